#!/bin/bash
# compare_capture.sh: the recorder next to tcpdump -w and xdpdump -w on the same veth workload.
#
#   sudo bench/datapath/compare_capture.sh <path/to/datapath_bench> [pps] [seconds]
#
# A namespace with a veth pair; trafgen inside the namespace sends 128-byte UDP frames at
# <pps> (default 100000) to the host end for <seconds> (default 10). Each capturer in turn
# records that interface (snap 128) while the same workload runs; for each we report packets
# sent, captured, lost, and the CPU time (user+system) of the capturing process per captured
# packet. Kernel-side work in softirq context (the tc/XDP program, the AF_PACKET tap) is not
# charged to any process and is not in these figures. Everything created is removed on exit.
set -euo pipefail
BENCH=${1:?path to datapath_bench}
PPS=${2:-100000}
SECS=${3:-10}
TAG=prtcmp$$
NS=${TAG}n
HOST=${TAG}h
PEER=${TAG}p
DIR=$(mktemp -d /tmp/${TAG}.XXXX)

cleanup() {
  ip link del "$HOST" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
traffic() {
  ip netns exec "$NS" trafgen --dev "$PEER" --conf "$DIR/udp.cfg" -n "$COUNT" -b "${PPS}pps" -P 1 -q -C \
    >/dev/null 2>&1
}
count() { tcpdump -r "$1" 2>/dev/null | wc -l; }
HZ=$(getconf CLK_TCK)

printf "%-16s %10s %10s %10s %12s\n" capturer sent captured lost "CPU ns/pkt"
run_external() {  # name, command...
  local name=$1; shift
  "$@" >"$DIR/$name.log" 2>&1 &
  local pid=$!
  sleep 1.5
  local t0; t0=$(cpu_ticks $pid)
  traffic
  sleep 1
  local t1; t1=$(cpu_ticks $pid)
  kill -INT $pid; wait $pid || true
  local n; n=$(count "$DIR/$name.pcap")
  local ns=$(( n > 0 ? (t1 - t0) * 1000000000 / HZ / n : 0 ))
  printf "%-16s %10d %10d %10d %12d\n" "$name" "$COUNT" "$n" $((COUNT - n)) "$ns"
}
run_external tcpdump tcpdump -i "$HOST" -w "$DIR/tcpdump.pcap" -s 128 -B 65536 -nn udp
run_external xdpdump xdpdump -i "$HOST" -w "$DIR/xdpdump.pcap" -s 128
for transport in perf ring; do
  "$BENCH" capture "$HOST" $((SECS + 3)) "$DIR/recorder-$transport.pcap" $transport \
    >"$DIR/recorder-$transport.log" 2>&1 &
  pid=$!
  sleep 1.5
  traffic
  wait $pid
  n=$(count "$DIR/recorder-$transport.pcap")
  ns=$(grep -o 'cpu_ns_per_packet [0-9]*' "$DIR/recorder-$transport.log" | awk '{print $2}')
  printf "%-16s %10d %10d %10d %12s\n" "recorder-$transport" "$COUNT" "$n" $((COUNT - n)) "$ns"
done
