#!/bin/bash
# compare_capture.sh: the datapath_bench harness (tc program, reader, dispatch and one pcap sink in
# one process, not recorderd) next to tcpdump -w and xdpdump -w on the same veth workload. The
# shipped daemon's view is bench/daemon/side_by_side.sh.
#
#   sudo bench/datapath/compare_capture.sh <path/to/datapath_bench> [pps] [seconds]
#
# A namespace with a veth pair; trafgen inside the namespace sends 128-byte UDP frames at
# <pps> (default 100000) to the host end for <seconds> (default 10). Each capturer in turn
# records that interface (snap 128) while the same workload runs; for each we report packets
# sent, captured, lost, and the CPU time (user+system) of the capturing process per captured
# packet.
#
# All capturers are measured the same way: each runs in its own cgroup v2 (bench/lib/cgroup.sh:
# every thread, including io_uring workers and threads that exit, is counted), and the
# window is from the start of the traffic to one second after it ends. Start-up and shut-down
# are outside the window for all of them. Kernel-side work in softirq context (the tc/XDP
# program, the AF_PACKET tap) is charged to whichever task it interrupts, usually trafgen.
# Everything created is removed on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/cgroup.sh"
BENCH=${1:?path to datapath_bench}
PPS=${2:-100000}
SECS=${3:-10}
bench_workdir prtcmp$$ /tmp

veth_create "$TAG"
cg_init "$TAG" "$DIR"
COUNT=$((PPS * SECS))
# 128-byte frames to UDP port 5555, which datapath_bench capture records.
udp_frame_cfg "$DIR/udp.cfg" 128 "$(cat /sys/class/net/"$HOST"/address)" 5555

count() { tcpdump -r "$1" udp 2>/dev/null | wc -l; }  # the workload only (xdpdump has no filter)

printf "%-16s %10s %10s %10s %12s\n" capturer sent captured lost "CPU ns/pkt"
# run <name> <pcap> <command...>: the command runs in cgroup ${TAG}-<name> from its first
# instruction; the traffic starts once it says "listening on" (tcpdump, xdpdump and
# datapath_bench all do when they capture; the harness needs seconds to load its BPF programs).
run() {
  local name=$1 pcap=$2; shift 2
  cg_start "$name" "$@" >"$DIR/$name.log" 2>&1
  cg_wait_line "$DIR/$name.log" "listening on"
  sleep 0.5
  local u0; u0=$(cg_usec "$name")
  trafgen_send "$DIR/udp.cfg" "$COUNT" "$PPS" >/dev/null
  sleep 1
  local u1; u1=$(cg_usec "$name")
  cg_stop "$name" INT
  local n; n=$(count "$pcap")
  local ns=$(( n > 0 ? (u1 - u0) * 1000 / n : 0 ))
  printf "%-16s %10d %10d %10d %12d\n" "$name" "$COUNT" "$n" $((COUNT - n)) "$ns"
}
run tcpdump "$DIR/tcpdump.pcap" tcpdump -i "$HOST" -w "$DIR/tcpdump.pcap" -s 128 -B 65536 -nn udp
run xdpdump "$DIR/xdpdump.pcap" xdpdump -i "$HOST" -w "$DIR/xdpdump.pcap" -s 128
for transport in perf ring; do
  run "recorder-$transport" "$DIR/recorder-$transport.pcap" \
    "$BENCH" capture "$HOST" 3600 "$DIR/recorder-$transport.pcap" "$transport"
  grep -h "^per packet" "$DIR/recorder-$transport.log" | sed 's/^/  (whole run) /' || true
done
