#!/bin/bash
# nonlinear_capture.sh: the shipped recorderd on packets whose headers are in page fragments
# (trafgen's memory-mapped TX ring) next to the same packets built linear (trafgen in sendto mode),
# and next to tcpdump on the same workload.
#
#   sudo bench/datapath/nonlinear_capture.sh <build dir> [packets] [rounds]
#
# A namespace with a veth pair; trafgen inside the namespace sends <packets> (default 1,000,000)
# 60-byte UDP frames to the host end at full speed, once through its TX ring (non-linear skbs)
# and once with -t 0 (sendto: linear skbs). recorderd (as users run it) captures on the host end
# with one recording started by recorderctl (snap 128) that matches the frames, then with one
# that does not; tcpdump -s 128 runs beside it on the same interface. For each we report the
# BPF program's cost per packet from the kernel's bpf_stats (run_time_ns / run_cnt of
# recorder_ingress), trafgen's rate, and how many frames recorderd and tcpdump captured or lost.
# Everything created is removed on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/recorderd.sh"
BUILD=${1:?build directory (with src/daemon/recorderd and src/cli/recorderctl)}
PACKETS=${2:-1000000}
ROUNDS=${3:-1}
DPID=
TPID=
on_cleanup() {
  for pid in $TPID $DPID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
}
bench_workdir prtnl$$ /tmp

veth_create "$TAG"
# 60-byte frames to the host end's MAC: Ethernet, IPv4 10.199.0.2 -> 10.199.0.1, UDP 4000 -> 9000.
udp_frame_cfg "$DIR/frame.cfg" 60 "$(cat /sys/class/net/"$HOST"/address)"
sysctl -q kernel.bpf_stats_enabled=1

recorderd_init "$BUILD" "$DIR"
"${RECORDERD_ARGS[@]}" --interfaces "$HOST" >"$DIR/recorderd.log" 2>&1 &
DPID=$!
recorderd_wait "$DPID"

# The id of our daemon's recorder_ingress (other recorderd processes on the machine have their own).
prog_id() {
  sed -n 's/^prog_id:\s*//p' /proc/"$DPID"/fdinfo/* 2>/dev/null | sort -un | while read -r id; do
    bpftool -j prog show id "$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
if p.get("name") == "recorder_ingress": print(p["id"])'
  done | tail -n 1
}
stats() { bpftool -j prog show id "$1" | python3 -c '
import json, sys; p = json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'; }

printf '%-9s %-10s %10s %8s %10s %10s %12s %12s %9s\n' mode recording sent kpps captured lost \
  "BPF ns/pkt" "tcpdump got" "tcpdump lost"
for _ in $(seq "$ROUNDS"); do
  for filter in "10.199.0.2 0 10.199.0.1 9000 UDP" "10.199.0.2 0 10.199.0.1 9999 UDP"; do
    for mode in txring sendto; do
      id=$(ctl start "$filter" --max-capture-len 128)
      tcpdump -i "$HOST" -s 128 -w "$DIR/tcpdump.pcap" -B 65536 -nn udp port 9000 \
        >/dev/null 2>"$DIR/tcpdump.log" &
      TPID=$!
      for _ in $(seq 50); do grep -q listening "$DIR/tcpdump.log" && break; sleep 0.1; done
      pid=$(prog_id)
      read -r t0 c0 < <(stats "$pid")
      read -r _ secs < <(trafgen_send "$DIR/frame.cfg" "$PACKETS" "$mode")
      read -r t1 c1 < <(stats "$pid")
      sleep 1
      kill -INT "$TPID"; wait "$TPID" 2>/dev/null || true
      TPID=
      read -r captured lost _ < <(recording_counts "$(ctl --json stop "$id")")
      ctl delete "$id" >/dev/null
      tgot=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$DIR/tcpdump.log")
      tlost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$DIR/tcpdump.log")
      runs=$((c1 - c0))
      ns=$(python3 -c "print(f'{($t1 - $t0) / max($runs, 1):.1f}')")
      rec=matching
      [[ "$filter" == *9999* ]] && rec=other
      kpps=$(python3 -c "print(f'{$runs / $secs / 1000:.0f}')")
      printf '%-9s %-10s %10s %8s %10s %10s %12s %12s %9s\n' "$mode" "$rec" "$runs" "$kpps" \
        "$captured" "$lost" "$ns" "$tgot" "$tlost"
    done
  done
done
