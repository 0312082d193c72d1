#!/usr/bin/env python3
"""side_by_side_table.py RESULTS.tsv: the markdown tables of bench/daemon/side_by_side.sh.

Each line of RESULTS.tsv is one run: part, workload, capturer, round (the trafgen mode in the
lossless part), frames sent, trafgen's seconds, the capturer's CPU microseconds over the window,
workload frames in its file, the daemon's lost counter (- for the peers). Lines of part
"threads" are one thread name of a process over the idle window (bench/lib/threads.sh): part, the
process, the thread name, threads of that name, CPU microseconds per second, wakeups per second.
"""
import statistics
import sys
from collections import OrderedDict

PEERS = ("tcpdump", "xdpdump")


def load(path):
    rows, threads = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("threads\t"):
                _, process, name, count, usec, wakeups = line.rstrip("\n").split("\t")
                threads.append(dict(process=process, name=name, count=int(count), usec=float(usec),
                                    wakeups=float(wakeups)))
                continue
            part, workload, capturer, round_, sent, secs, usec, in_file, lost = line.rstrip("\n").split("\t")
            rows.append(dict(part=part, workload=workload, capturer=capturer, round=round_,
                             sent=int(sent) if sent != "-" else 0,
                             secs=float(secs) if secs != "-" else 0.0, usec=float(usec),
                             in_file=int(in_file) if in_file != "-" else 0,
                             lost=None if lost == "-" else int(lost)))
    return rows, threads


def kpps(r):
    return r["sent"] / r["secs"] / 1000 if r["secs"] else 0.0


def missing(r):
    return max(r["sent"] - r["in_file"], 0)


def per_packet(rows):
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r["workload"], OrderedDict()).setdefault(r["capturer"], []).append(r)
    rounds = max(len(runs) for g in groups.values() for runs in g.values())
    print(f"CPU ns per packet: the capturer's CPU time (its cgroup, all threads) from the start of the "
          f"traffic to 1 s after it ends, over the frames sent; median (range) of {rounds} "
          f"alternating round(s). Loss: frames sent that are not in the capturer's file.\n")
    print("| workload | capturer | CPU ns/packet, median (range) | loss | ratio to the cheaper peer |")
    print("|---|---|---|---|---|")
    for workload, by_capturer in groups.items():
        rate = statistics.median(kpps(r) for runs in by_capturer.values() for r in runs)
        ns = {c: [r["usec"] * 1000 / r["sent"] for r in runs] for c, runs in by_capturer.items()}
        peer_medians = [statistics.median(ns[p]) for p in PEERS if p in ns]
        cheaper = min(peer_medians) if peer_medians else None
        for capturer, runs in by_capturer.items():
            values = ns[capturer]
            med = statistics.median(values)
            sent = sum(r["sent"] for r in runs)
            lost = sum(missing(r) for r in runs)
            loss = "0" if lost == 0 else f"{lost:,} of {sent:,} ({100 * lost / sent:.1f} %)"
            counted = [r["lost"] for r in runs if r["lost"] is not None]
            if counted:
                loss += f"; daemon counted {sum(counted):,}"
            ratio = f"{med / cheaper:.2f}x" if cheaper else "-"
            print(f"| {workload}, trafgen {rate:.0f} kpps | {capturer} | {med:.0f} "
                  f"({min(values):.0f}–{max(values):.0f}) | {loss} | {ratio} |")
    print()


def idle(rows):
    print("Idle: no traffic on the interface; CPU microseconds per second of the capturer's cgroup "
          "(2 s to settle, then the window). The bare gRPC server is recorderd's gRPC server alone "
          "(bench/daemon/grpc_idle_floor): what gRPC costs with no recorder.\n")
    print("| capturer | CPU µs per second |")
    print("|---|---|")
    for r in rows:
        print(f"| {r['capturer']} | {r['usec']:.1f} |")
    print()


def idle_threads(threads):
    for process in OrderedDict((t["process"], None) for t in threads):
        mine = [t for t in threads if t["process"] == process]
        print(f"Idle, {process}, per thread over the same window (/proc/PID/task/*/schedstat: CPU "
              f"time, and timeslices, which for a thread that sleeps between them are its "
              f"wakeups).\n")
        print("| thread | threads | CPU µs per second | wakeups per second |")
        print("|---|---|---|---|")
        for t in mine:
            print(f"| {t['name']} | {t['count']} | {t['usec']:.1f} | {t['wakeups']:.2f} |")
        print(f"| total | {sum(t['count'] for t in mine)} | {sum(t['usec'] for t in mine):.1f} | "
              f"{sum(t['wakeups'] for t in mine):.2f} |")
        print()


def mode_name(mode):
    names = {"sendto": "unpaced sendto", "txring": "unpaced TX ring",
             "txring2": "unpaced TX ring, 2 trafgen processes"}
    return names[mode] if mode in names else f"-b {int(mode) // 1000} kpps"


def lossless(rows):
    print("Highest lossless rate: one recording (or tcpdump), 128-byte snap; trafgen's rate stepped up "
          "until a step lost a frame (one trial per step; the rate is what trafgen reached).\n")
    print("| frames | capturer | highest lossless rate | first step with loss | ratio to tcpdump |")
    print("|---|---|---|---|---|")
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r["workload"], OrderedDict()).setdefault(r["capturer"], []).append(r)
    for size, by_capturer in groups.items():
        summary = {}  # capturer -> (highest lossless kpps, whether no step lost, table cells)
        for capturer, steps in by_capturer.items():
            clean = [s for s in steps if missing(s) == 0 and not s["lost"]]
            lossy = [s for s in steps if missing(s) or s["lost"]]
            top = max(clean, key=kpps, default=None)
            highest = f"{kpps(top):.0f} kpps ({mode_name(top['round'])})" if top else "none"
            if lossy:
                s = lossy[0]
                what = f"{missing(s):,} of {s['sent']:,} missing"
                if s["lost"]:
                    what += f", daemon counted {s['lost']:,}"
                first = f"{kpps(s):.0f} kpps ({mode_name(s['round'])}): {what}"
            else:
                highest = "≥ " + highest
                first = "none: lossless up to trafgen's fastest step"
            summary[capturer] = (kpps(top) if top else 0.0, not lossy, highest, first)
        peer = summary.get("tcpdump")
        for capturer, (best, unbounded, highest, first) in summary.items():
            ratio = "-"
            if capturer != "tcpdump" and peer and peer[0]:
                ratio = f"{best / peer[0]:.2f}x"
                if unbounded and peer[1]:
                    ratio = "unknown: both lossless up to trafgen's limit"
                elif unbounded:
                    ratio = "≥ " + ratio
                elif peer[1]:
                    ratio = "≤ " + ratio
            print(f"| {size} | {capturer} | {highest} | {first} | {ratio} |")
    print()


def main():
    rows, threads = load(sys.argv[1])
    for part, show in (("packet", per_packet), ("idle", idle), ("lossless", lossless)):
        selected = [r for r in rows if r["part"] == part]
        if selected:
            show(selected)
        if part == "idle" and threads:
            idle_threads(threads)


if __name__ == "__main__":
    main()
