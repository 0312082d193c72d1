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
BUILD=${1:?build directory (with src/daemon/recorderd and src/cli/recorderctl)}
PACKETS=${2:-1000000}
ROUNDS=${3:-1}
RECORDERD=$BUILD/src/daemon/recorderd
RECORDERCTL=$BUILD/src/cli/recorderctl
TAG=prtnl$$
NS=${TAG}n
HOST=${TAG}h
PEER=${TAG}p
DIR=$(mktemp -d /tmp/${TAG}.XXXX)
DPID=
cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  ip link del "$HOST" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "$HOST" type veth peer name "$PEER" netns "$NS"
ip addr add 10.199.0.1/24 dev "$HOST"
ip link set "$HOST" up
ip -n "$NS" addr add 10.199.0.2/24 dev "$PEER"
ip -n "$NS" link set "$PEER" up
ip -n "$NS" link set lo up
HMAC=$(cat /sys/class/net/$HOST/address)
# 60-byte frames: Ethernet, IPv4 10.199.0.2 -> 10.199.0.1, UDP 4000 -> 9000, 18 bytes of payload.
cat >"$DIR/frame.cfg" <<CFG
{ eth(da=$HMAC, sa=02:00:00:00:00:99), ipv4(sa=10.199.0.2, da=10.199.0.1, ttl=64), udp(sp=4000, dp=9000), fill(0x41, 18) }
CFG
sysctl -q kernel.bpf_stats_enabled=1

"$RECORDERD" --interfaces "$HOST" --storage-path "$DIR/storage" --socket "$DIR/sock" \
  --min-free-disk 0 --log-level warn >"$DIR/recorderd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$DIR/sock" ] && break; sleep 0.1; done
CTL=("$RECORDERCTL" --server "unix://$DIR/sock")
prog_id() {
  bpftool -j prog show | python3 -c '
import json, sys
ids = [p["id"] for p in json.load(sys.stdin) if p.get("name") == "recorder_ingress"]
print(max(ids))'
}
stats() { bpftool -j prog show id "$1" | python3 -c '
import json, sys; p = json.load(sys.stdin); print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'; }

printf '%-9s %-10s %10s %8s %10s %10s %12s %12s %9s\n' mode recording sent kpps captured lost \
  "BPF ns/pkt" "tcpdump got" "tcpdump lost"
for round in $(seq "$ROUNDS"); do
  for filter in "10.199.0.2 0 10.199.0.1 9000 UDP" "10.199.0.2 0 10.199.0.1 9999 UDP"; do
    for mode in txring sendto; do
      id=$("${CTL[@]}" start "$filter" --max-capture-len 128)
      tcpdump -i "$HOST" -s 128 -w "$DIR/tcpdump.pcap" -B 65536 -nn udp port 9000 \
        >/dev/null 2>"$DIR/tcpdump.log" &
      TPID=$!
      for _ in $(seq 50); do grep -q listening "$DIR/tcpdump.log" && break; sleep 0.1; done
      pid=$(prog_id)
      read -r t0 c0 < <(stats "$pid")
      extra=()
      [ "$mode" = sendto ] && extra=(-t 0)
      start=$(date +%s.%N)
      ip netns exec "$NS" trafgen --dev "$PEER" --conf "$DIR/frame.cfg" --num "$PACKETS" \
        --cpus 1 -q "${extra[@]}" >/dev/null 2>&1
      end=$(date +%s.%N)
      read -r t1 c1 < <(stats "$pid")
      sleep 1
      kill -INT "$TPID"; wait "$TPID" 2>/dev/null || true
      out=$("${CTL[@]}" --json stop "$id")
      captured=$(echo "$out" | python3 -c 'import json,sys; s=json.load(sys.stdin)["stats"]; print(s.get("packetsCaptured", s.get("packets_captured", 0)))')
      lost=$(echo "$out" | python3 -c 'import json,sys; s=json.load(sys.stdin)["stats"]; print(s.get("packetsLost", s.get("packets_lost", 0)))')
      "${CTL[@]}" delete "$id" >/dev/null
      tgot=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$DIR/tcpdump.log")
      tlost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$DIR/tcpdump.log")
      runs=$((c1 - c0))
      ns=$(python3 -c "print(f'{($t1 - $t0) / max($runs, 1):.1f}')")
      rec=matching
      [[ "$filter" == *9999* ]] && rec=other
      kpps=$(python3 -c "print(f'{$runs / ($end - $start) / 1000:.0f}')")
      printf '%-9s %-10s %10s %8s %10s %10s %12s %12s %9s\n' "$mode" "$rec" "$runs" "$kpps" \
        "$captured" "$lost" "$ns" "$tgot" "$tlost"
    done
  done
done
