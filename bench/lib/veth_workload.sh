# shellcheck shell=bash
# veth_workload.sh: a private namespace with a veth pair, and trafgen inside it sending UDP frames
# to the host end, where the capturers under test listen. Sourced by the bench scripts.
#
#   veth_create TAG          namespace ${TAG}n, host end ${TAG}h (10.199.0.1/24), its peer ${TAG}p
#                            inside the namespace (10.199.0.2/24), made by veth_pair; sets NS,
#                            HOST, PEER
#   veth_pair NS HOST PEER   namespace NS, a veth pair HOST (here) and PEER (in NS), both up, with
#                            IPv6 off on both, so that nothing but the workload crosses the link;
#                            no addresses; the caller deletes them (veth_delete deletes
#                            veth_create's)
#   veth_delete              removes both (safe to call twice, or before veth_create)
#   udp_frame_cfg FILE BYTES DST_MAC [DST_PORT]
#                            a trafgen config: one Ethernet frame of BYTES (>= 60) bytes,
#                            IPv4 10.199.0.2:4000 -> 10.199.0.1:DST_PORT (default 9000) UDP
#   trafgen_send CFG PACKETS MODE
#                            sends PACKETS frames; MODE is txring (trafgen's memory-mapped TX
#                            ring, unpaced), txring2 (the same from two trafgen processes),
#                            sendto (unpaced, -t 0) or a rate in packets per second (sendto,
#                            paced with -b); prints "SENT SECONDS", the packets trafgen reports
#                            sent and the wall time it took
NS='' HOST='' PEER=''

veth_create() {
  NS=${1}n HOST=${1}h PEER=${1}p
  veth_pair "$NS" "$HOST" "$PEER"
  ip addr add 10.199.0.1/24 dev "$HOST"
  ip -n "$NS" addr add 10.199.0.2/24 dev "$PEER"
  ip -n "$NS" link set lo up
}

veth_pair() {
  local ns=$1 host=$2 peer=$3
  ip netns add "$ns"
  ip link add "$host" type veth peer name "$peer" netns "$ns"
  sysctl -q -w "net.ipv6.conf.$host.disable_ipv6=1"
  ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$peer.disable_ipv6=1"
  ip link set "$host" up
  ip -n "$ns" link set "$peer" up
}

veth_delete() {
  [ -n "$HOST" ] && ip link del "$HOST" 2>/dev/null
  [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
  return 0
}

udp_frame_cfg() {
  local file=$1 bytes=$2 mac=$3 port=${4:-9000}
  ((bytes >= 60)) || { echo "udp_frame_cfg: frame size $bytes is below 60 bytes" >&2; return 1; }
  # Ethernet 14 + IPv4 20 + UDP 8 bytes of headers, the rest payload.
  cat >"$file" <<CFG
{ eth(da=$mac, sa=02:00:00:00:00:99), ipv4(sa=10.199.0.2, da=10.199.0.1, ttl=64), udp(sp=4000, dp=$port), fill(0x41, $((bytes - 42))) }
CFG
}

trafgen_send() {
  local cfg=$1 packets=$2 mode=$3 pace=() cpus=1
  case $mode in
    txring) ;;
    txring2) cpus=2 ;;
    sendto) pace=(-t 0) ;;
    *[!0-9]* | '') echo "trafgen_send: mode '$mode' is not txring, txring2, sendto or a packet rate" >&2; return 1 ;;
    *) pace=(-b "${mode}pps") ;;
  esac
  local start end out
  start=$(date +%s.%N)
  out=$(ip netns exec "$NS" trafgen --dev "$PEER" --conf "$cfg" --num "$packets" --cpus "$cpus" -q -C \
    "${pace[@]}" 2>&1) || { echo "trafgen failed: $out" >&2; return 1; }
  end=$(date +%s.%N)
  local sent
  sent=$(sed -n 's/^ *\([0-9][0-9]*\) packets outgoing.*/\1/p' <<<"$out")
  echo "${sent:-$packets} $(awk "BEGIN { printf \"%.6f\", $end - $start }")"
}
