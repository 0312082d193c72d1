#!/usr/bin/env bash
# Fails when a test left something of ours behind: a namespace, a recorderd process, a BPF
# program of ours that outlived its process (attached to tc or pinned), or a pin. Tests must
# clean up, also when they fail.
set -u
bad=0
ns=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(prt|rec)' || true)
if [ -n "$ns" ]; then echo "leftover namespaces: $ns"; bad=1; fi
procs=$(pgrep -a -x recorderd || true)
if [ -n "$procs" ]; then echo "leftover recorderd: $procs"; bad=1; fi
# A program of ours that no live process holds outlived its owner (kept by a tc filter or a pin).
# One that a running process holds is in use, not left over.
progs=$(bpftool -j prog show 2>/dev/null | python3 -c '
import glob, json, re, sys
held = set()  # program ids some live process has an fd of (Debian bpftool does not list pids)
for info in glob.glob("/proc/[0-9]*/fdinfo/*"):
    try:
        m = re.search(r"^prog_id:\s*(\d+)", open(info).read(), re.M)
    except OSError:
        continue
    if m:
        held.add(int(m.group(1)))
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("recorder_") and p["id"] not in held:
        print(p["id"], p["name"])
' || true)
if [ -n "$progs" ]; then echo "leftover BPF programs (no process holds them): $progs"; bad=1; fi
if [ -d /sys/fs/bpf/pcap-recorder ]; then echo "leftover pins under /sys/fs/bpf/pcap-recorder"; bad=1; fi
if [ $bad -eq 0 ]; then echo "no leftovers"; fi
exit $bad
