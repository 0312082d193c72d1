#!/usr/bin/env bash
# pcap-recorder end to end, on a fresh Debian 12 machine as root (the README's run command):
#   1. installs what is missing (scripts/setup.sh) and builds into build/release;
#   2. creates two network namespaces joined by a veth pair (unique names);
#   3. starts recorderd capturing with eBPF on the veth, its socket and storage in a temp dir;
#   4. records traffic (ping, a UDP flow, a TCP flow) with recorderctl: one Hubble-style
#      foreground recording with a filter and a packet limit, and one detached recording that is
#      listed, fetched and deleted;
#   5. prints a capinfos/tshark summary of the fetched file;
#   6. records 1,000 frames sent from trafgen's TX ring (headers in page fragments) and checks
#      that every one is in the file or counted as lost;
#   7. a flight-recorder ring on everything; a snapshot of one flow in one burst, cut by time;
#   8. a cluster recording: a second recorderd on the veth's other end, both behind one
#      recorder-relay; one `recorderctl record` against the relay gives one merged pcapng, each
#      packet on its node's interface (node-a/<veth>, node-b/<veth>); the relay's
#      --metrics-listen shows both peers up; a ring on both nodes and one
#      `recorderctl snapshot` against the relay: one flow from both nodes' rings, merged;
#   9. removes everything it created (trap), also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (eBPF, tc, network namespaces)" >&2
  exit 1
fi

# RECORDER_DEMO_BUILD_DIR: build elsewhere (e.g. an existing dev build); default build/release.
build=${RECORDER_DEMO_BUILD_DIR:-build/release}
bash scripts/setup.sh
echo "== building ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECORDER_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target recorderd recorderctl recorder-relay
recorderd=$root/$build/src/daemon/recorderd
recorderctl=$root/$build/src/cli/recorderctl
relay=$root/$build/src/relay/recorder-relay

tag="prt$$"
tag=${tag:0:9}
ns_a="${tag}a"
ns_b="${tag}b"
veth_a="${tag}va"
veth_b="${tag}vb"
work=$(mktemp -d /tmp/pcap-recorder-demo.XXXXXX)
daemon_pid=""
node_b_pid=""
relay_pid=""

cleanup() {
  set +e
  for pid in "$relay_pid" "$node_b_pid" "$daemon_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid"
    fi
  done
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== namespaces $ns_a <-> $ns_b (veth $veth_a / $veth_b)"
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add 10.77.0.1/24 dev "$veth_a"
ip -n "$ns_b" addr add 10.77.0.2/24 dev "$veth_b"
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up
ip -n "$ns_a" link set lo up
ip -n "$ns_b" link set lo up

echo "== starting recorderd on $veth_a (inside $ns_a)"
sock="$work/recorder.sock"
# recorderd runs inside namespace A, so it sees (and attaches to) the veth's A end.
ip netns exec "$ns_a" "$recorderd" --storage-path "$work/storage" --socket "$sock" \
  --interfaces "$veth_a" --node-name node-a --min-free-disk 0 >"$work/recorderd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
if [ ! -S "$sock" ]; then cat "$work/recorderd.log"; exit 1; fi
ctl() { "$recorderctl" --server "unix://$sock" "$@"; }

echo "== recording: ICMP between the namespaces, both ways, 10 packets (like hubble record)"
ctl record "10.77.0.1 0 10.77.0.2 0 ICMP" --bidirectional --packet-limit 10 --file-prefix demo &
record_pid=$!
sleep 0.5
ip netns exec "$ns_a" ping -c 5 -i 0.2 -q 10.77.0.2 >/dev/null
wait "$record_pid"

echo "== detached recording: UDP and TCP to 10.77.0.2 for 3 seconds"
id=$(ctl start "any 0 10.77.0.2 0 UDP" "any 0 10.77.0.2 8080 TCP" --bidirectional --time-limit 3s)
echo "started recording $id"
# A small UDP flow and a TCP connection to a listener in namespace B.
ip netns exec "$ns_b" timeout 4 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 8080)); s.listen(1); c, _ = s.accept()
while c.recv(65536): pass
' &
listener_pid=$!
sleep 0.3
ip netns exec "$ns_a" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20): u.sendto(b"x" * 200, ("10.77.0.2", 9000))
t = socket.create_connection(("10.77.0.2", 8080)); t.sendall(b"y" * 20000); t.close()
'
wait "$listener_pid" || true
sleep 3

echo "== list"
ctl list
echo "== status $id"
ctl status "$id"
out="$work/recording-$id.pcap"
ctl fetch "$id" -o "$out"
echo "== capinfos"
capinfos -c -d -u "$out" | sed 's/^/  /'
echo "== tshark"
tshark -r "$out" -q -z io,phs 2>/dev/null | sed 's/^/  /'
tshark -r "$out" -Y udp 2>/dev/null | head -3 | sed 's/^/  /'
tshark -r "$out" -Y tcp 2>/dev/null | head -5 | sed 's/^/  /'
ctl delete "$id"

echo "== trafgen's TX ring: 1000 UDP frames whose headers sit in page fragments, every one recorded"
id=$(ctl start "10.77.0.2 0 10.77.0.1 9100 UDP" --max-capture-len 128)
mac_a=$(ip netns exec "$ns_a" cat "/sys/class/net/$veth_a/address")
cat >"$work/frame.cfg" <<CFG
{ eth(da=$mac_a), ipv4(sa=10.77.0.2, da=10.77.0.1), udp(sp=4000, dp=9100), fill(0x41, 18) }
CFG
# No -t/-b: trafgen sends from its memory-mapped TX ring, at full speed.
ip netns exec "$ns_b" trafgen --dev "$veth_b" --conf "$work/frame.cfg" --num 1000 --cpus 1 -q \
  >/dev/null 2>&1
sleep 0.5
ctl stop "$id" | grep -E "^(captured|lost):" | sed 's/^/  /'
captured=$(ctl --json status "$id" | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print(int(s["packets_captured"]) + int(s["packets_lost"]))')
if [ "$captured" != 1000 ]; then
  echo "demo: $captured of 1000 TX-ring frames recorded or counted as lost" >&2
  exit 1
fi
ctl delete "$id" >/dev/null

echo "== flight recorder: a ring on everything, then 'what happened in that burst between A and B?'"
ctl ring start all "any 0 any 0 ANY" --max-size 64MiB --chunk-size 1MiB >/dev/null
udp_burst() {
  ip netns exec "$ns_a" python3 -c '
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (9301, 9302):
    for i in range(50): u.sendto(b"z" * 300, ("10.77.0.2", port))
'
}
udp_burst; sleep 0.5
from=$(date +%s.%N); udp_burst; to=$(date +%s.%N); sleep 0.5
udp_burst
ctl ring list | sed 's/^/  /'
snap=$(ctl --json snapshot all --from "$from" --to "$to" "10.77.0.1 0 10.77.0.2 9302 UDP" \
  -o "$work/snapshot.pcap" | python3 -c '
import json, sys
first, _ = json.JSONDecoder().raw_decode(sys.stdin.read())  # then the download'"'"'s line
print(first["recording"]["stats"]["packets_captured"])' 2>/dev/null ||
  echo 0)
echo "  snapshot of the middle burst, flow to port 9302: $snap packets"
if [ "$snap" != 50 ]; then
  echo "demo: the snapshot holds $snap packets, not the burst's 50" >&2
  exit 1
fi
capinfos -c "$work/snapshot.pcap" | tail -1 | sed 's/^/  /'
ctl ring delete all >/dev/null

echo "== a cluster: node-b (recorderd on $veth_b, inside $ns_b) and recorder-relay in front of both"
sock_b="$work/node-b.sock"
ip netns exec "$ns_b" "$recorderd" --storage-path "$work/storage-b" --socket "$sock_b" \
  --interfaces "$veth_b" --node-name node-b --min-free-disk 0 >"$work/node-b.log" 2>&1 &
node_b_pid=$!
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
relay_sock="$work/relay.sock"
"$relay" --peers "unix://$sock,unix://$sock_b" --socket "$relay_sock" \
  --storage-path "$work/relay-storage" --node-name relay \
  --metrics-listen "127.0.0.1:$metrics_port" >"$work/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 300); do
  "$recorderctl" --server "unix://$sock_b" list >/dev/null 2>&1 &&
    "$recorderctl" --server "unix://$relay_sock" list >/dev/null 2>&1 && break
  sleep 0.1
done
"$recorderctl" --server "unix://$relay_sock" list >/dev/null || { cat "$work/relay.log" "$work/node-b.log"; exit 1; }
echo "== one record against the relay: UDP 10.77.0.1 -> 10.77.0.2:9200, seen leaving A and entering B"
"$recorderctl" --server "unix://$relay_sock" record "10.77.0.1 0 10.77.0.2 9200 UDP" \
  --time-limit 3s --format pcapng --file-prefix cluster >"$work/relay-record.out" &
record_pid=$!
sleep 0.5
ip netns exec "$ns_a" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5): u.sendto(b"z" * 100, ("10.77.0.2", 9200))
'
wait "$record_pid"
sed 's/^/  /' "$work/relay-record.out"
merged=$(ls "$work"/relay-storage/cluster_*.pcapng)
echo "== the merged file: one interface per node, packets in time order"
capinfos -c -I "$merged" 2>/dev/null | grep -E "Number of packets|Name = " | sed 's/^ */  /'
tshark -r "$merged" -T fields -e frame.number -e frame.interface_name -e ip.src -e ip.dst \
  -e udp.dstport 2>/dev/null | sed 's/^/  /'
for node in "node-a/$veth_a" "node-b/$veth_b"; do
  n=$(tshark -r "$merged" -T fields -e frame.interface_name 2>/dev/null | grep -cx "$node" || true)
  if [ "$n" != 5 ]; then
    echo "demo: $n of 5 packets on $node in the merged file" >&2
    exit 1
  fi
done
echo "== the relay's metrics (--metrics-listen 127.0.0.1:$metrics_port)"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  grep -E '^recorder_relay_(peers|peer_up)[{ ]' | sed 's/^/  /'
echo "== a ring named flight on both nodes, one snapshot of one flow through the relay"
for node_sock in "$sock" "$sock_b"; do
  "$recorderctl" --server "unix://$node_sock" ring start flight "any 0 any 0 UDP" \
    --max-size 64MiB --format pcapng >/dev/null
done
ip netns exec "$ns_a" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (9401, 9402):
    for i in range(5): u.sendto(b"z" * 100, ("10.77.0.2", port))
'
sleep 0.5
"$recorderctl" --server "unix://$relay_sock" ring list | sed 's/^/  /'
"$recorderctl" --server "unix://$relay_sock" snapshot flight --last 1m \
  "10.77.0.1 0 10.77.0.2 9402 UDP" -o "$work/cluster-snapshot.pcapng" | sed 's/^/  /'
for node in "node-a/$veth_a" "node-b/$veth_b"; do
  n=$(tshark -r "$work/cluster-snapshot.pcapng" -T fields -e frame.interface_name 2>/dev/null |
    grep -cx "$node" || true)
  if [ "$n" != 5 ]; then
    echo "demo: $n of 5 packets on $node in the cluster snapshot" >&2
    exit 1
  fi
done
echo "  the flow to port 9402 from both nodes' rings, merged: 5 packets on each node's interface"
kill -TERM "$relay_pid" "$node_b_pid"
wait "$relay_pid" "$node_b_pid"
relay_pid="" node_b_pid=""

echo "== stopping recorderd (SIGTERM): recordings closed, tc programs detached"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
tail -3 "$work/recorderd.log" | sed 's/^/  /'
# tcx links (the default on Linux 6.6+) end with the process; clsact filters must be gone too.
if ip netns exec "$ns_a" tc filter show dev "$veth_a" ingress | grep -q bpf; then
  echo "demo: tc filter left on $veth_a" >&2
  exit 1
fi
echo "demo: OK"
