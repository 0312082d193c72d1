#!/bin/bash
# compare_capture.sh: the recorder next to tcpdump -w and xdpdump -w on the same veth workload.
#
#   sudo bench/datapath/compare_capture.sh <path/to/datapath_bench> [pps] [seconds]
#
# A namespace with a veth pair; trafgen inside the namespace sends 128-byte UDP frames at
# <pps> (default 100000) to the host end for <seconds> (default 10). Each capturer in turn
# records that interface (snap 128) while the same workload runs; for each we report packets
# sent, captured, lost, and the CPU time (user+system) of the capturing process per captured
# packet.
#
# All capturers are measured the same way: each runs in its own cpuacct cgroup (every thread,
# including io_uring workers and threads that exit, is counted, to the nanosecond), and the
# window is from the start of the traffic to one second after it ends. Start-up and shut-down
# are outside the window for all of them. Kernel-side work in softirq context (the tc/XDP
# program, the AF_PACKET tap) is charged to whichever task it interrupts, usually trafgen.
# Everything created is removed on exit.
set -euo pipefail
BENCH=${1:?path to datapath_bench}
PPS=${2:-100000}
SECS=${3:-10}
TAG=prtcmp$$
NS=${TAG}n
HOST=${TAG}h
PEER=${TAG}p
DIR=$(mktemp -d /tmp/${TAG}.XXXX)
CG=/sys/fs/cgroup/cpuacct
[ -d "$CG" ] || { mkdir -p "$DIR/cg" && mount -t cgroup -o cpuacct none "$DIR/cg" && CG=$DIR/cg; }

cleanup() {
  ip link del "$HOST" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  for g in "$CG"/${TAG}-*; do [ -d "$g" ] && rmdir "$g" 2>/dev/null; done
  [ "$CG" = "$DIR/cg" ] && umount "$CG"
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "$HOST" type veth peer name "$PEER" netns "$NS"
ip addr add 10.214.1.1/24 dev "$HOST"
ip link set "$HOST" up
ip netns exec "$NS" ip addr add 10.214.1.2/24 dev "$PEER"
ip netns exec "$NS" ip link set "$PEER" up
HMAC=$(cat /sys/class/net/"$HOST"/address)
PMAC=$(ip netns exec "$NS" cat /sys/class/net/"$PEER"/address)
COUNT=$((PPS * SECS))
cat > "$DIR/udp.cfg" <<CFG
{ eth(da=$HMAC, sa=$PMAC, type=0x0800), ipv4(saddr=10.214.1.2, daddr=10.214.1.1, proto=17, ttl=64),
  udp(sport=4000, dport=5555), fill(0x41, 86) }
CFG

traffic() {
  ip netns exec "$NS" trafgen --dev "$PEER" --conf "$DIR/udp.cfg" -n "$COUNT" -b "${PPS}pps" -P 1 -q -C \
    >/dev/null 2>&1
}
count() { tcpdump -r "$1" udp 2>/dev/null | wc -l; }  # the workload only (xdpdump has no filter)

printf "%-16s %10s %10s %10s %12s\n" capturer sent captured lost "CPU ns/pkt"
# run <name> <pcap> <command...>: the command runs in cgroup ${TAG}-<name> from its first
# instruction (a shell moves itself in, then execs it).
run() {
  local name=$1 pcap=$2; shift 2
  local g=$CG/${TAG}-$name
  mkdir "$g"
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$g" "$@" >"$DIR/$name.log" 2>&1 &
  local pid=$!
  sleep 1.5
  local t0; t0=$(cat "$g/cpuacct.usage")
  traffic
  sleep 1
  local t1; t1=$(cat "$g/cpuacct.usage")
  kill -INT $pid; wait $pid || true
  local n; n=$(count "$pcap")
  local ns=$(( n > 0 ? (t1 - t0) / n : 0 ))
  printf "%-16s %10d %10d %10d %12d\n" "$name" "$COUNT" "$n" $((COUNT - n)) "$ns"
  rmdir "$g"
}
run tcpdump "$DIR/tcpdump.pcap" tcpdump -i "$HOST" -w "$DIR/tcpdump.pcap" -s 128 -B 65536 -nn udp
run xdpdump "$DIR/xdpdump.pcap" xdpdump -i "$HOST" -w "$DIR/xdpdump.pcap" -s 128
for transport in perf ring; do
  run "recorder-$transport" "$DIR/recorder-$transport.pcap" \
    "$BENCH" capture "$HOST" 3600 "$DIR/recorder-$transport.pcap" "$transport"
  grep -h "^per packet" "$DIR/recorder-$transport.log" | sed 's/^/  (whole run) /' || true
done
