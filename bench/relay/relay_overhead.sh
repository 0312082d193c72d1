#!/bin/bash
# relay_overhead.sh: what recorder-relay's stop costs on real node files: three recorderd nodes
# behind one recorder-relay record ~100 MB each, then the time from `recorderctl stop` (against
# the relay) to the merged file, and the merge alone (merge_bench: relay/merge.h on the nodes'
# own files) against `cat` of the same files to /dev/null (a disk/page-cache read baseline).
#
#   sudo bench/relay/relay_overhead.sh <build dir> [MB per node]
#
#   <build dir>  has src/daemon/recorderd, src/cli/recorderctl, src/relay/recorder-relay and
#                bench/relay/merge_bench (e.g. build/release)
#   MB per node  default 100
#
# Each node: a private namespace with a veth pair; recorderd (`--interfaces` the host end,
# `--node-name node-N`, its own socket and storage) captures what trafgen inside the namespace
# sends: 1,500-byte UDP frames (10.199.0.2:4000 -> 10.199.0.1:9000) whose destination MAC is not
# the host end's, so the host's stack drops them at once. The relay (`--peers` the three unix
# sockets) starts one pcapng recording of that flow; the three trafgens send at once (paced,
# 30 kpps each), so the nodes' packets interleave in time. The stop, timed as a user sees it,
# is the relay stopping every node, downloading each file (the Download RPC) and merging them.
# Then merge_bench merges the nodes' files (still on the nodes) three times, and cat reads them
# three times (after one warm-up read, so both read from the page cache); medians printed.
#
# Needs root, trafgen (netsniff-ng), python3. Everything created (namespaces, veths, processes,
# files) is removed on exit, also on Ctrl-C. About 1 minute on the 2-CPU VM.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/recorderd.sh"

BUILD=${1:?usage: relay_overhead.sh <build dir> [MB per node]}
MB=${2:-100}
positive_number "MB per node" "$MB"
need_root "namespaces, BPF"
RELAY=$BUILD/src/relay/recorder-relay MERGE=$BUILD/bench/relay/merge_bench
for b in "$RELAY" "$MERGE"; do
  [ -x "$b" ] || fail "$b is missing (build recorderd, recorderctl, recorder-relay, merge_bench)"
done
need_tools "run scripts/setup.sh" trafgen python3

NODES=3 FRAME=1500
PACKETS=$((MB * 1000000 / (FRAME + 32)))  # + the enhanced packet block's framing
PIDS=()
on_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in $(seq 0 $((NODES - 1))); do
    ip link del "${TAG}h$i" 2>/dev/null || true
    ip netns del "${TAG}n$i" 2>/dev/null || true
  done
}
bench_workdir ro$$
WORK=$DIR
recorderd_init "$BUILD" "$WORK"

peers=()
for i in $(seq 0 $((NODES - 1))); do
  ns=${TAG}n$i host=${TAG}h$i peer=${TAG}p$i dir=$WORK/node$i
  mkdir -p "$dir"
  veth_pair "$ns" "$host" "$peer"
  "$RECORDERD" --interfaces "$host" --node-name "node-$i" --storage-path "$dir/storage" \
    --socket "$dir/sock" --min-free-disk 0 --log-level warn >"$dir/recorderd.log" 2>&1 &
  PIDS+=($!)
  peers+=("unix://$dir/sock")
done
for i in $(seq 0 $((NODES - 1))); do
  wait_socket "${PIDS[$i]}" "$WORK/node$i/sock" "$WORK/node$i/recorderd.log" 300
done
"$RELAY" --peers "$(IFS=,; echo "${peers[*]}")" --storage-path "$WORK/relay/storage" \
  --socket "$WORK/relay.sock" --node-name relay --log-level warn >"$WORK/relay.log" 2>&1 &
PIDS+=($!)
wait_socket "$!" "$WORK/relay.sock" "$WORK/relay.log" 300
rctl() { "$RECORDERCTL" --server "unix://$WORK/relay.sock" "$@"; }

id=$(rctl start "10.199.0.2 0 10.199.0.1 9000 UDP" --format pcapng)
senders=()
for i in $(seq 0 $((NODES - 1))); do
  udp_frame_cfg "$WORK/frame$i.cfg" "$FRAME" 02:00:00:00:00:01  # not the host end's MAC
  (NS=${TAG}n$i PEER=${TAG}p$i trafgen_send "$WORK/frame$i.cfg" "$PACKETS" 30000 >"$WORK/sent$i") &
  senders+=($!)
done
for p in "${senders[@]}"; do wait "$p"; done
sleep 1  # the nodes' writers drain
load=$(cut -d' ' -f1-3 /proc/loadavg)

start=$(date +%s.%N)
rctl stop "$id" >"$WORK/stop.out"
end=$(date +%s.%N)
merged=$(ls "$WORK"/relay/storage/*.pcapng)
node_files=()
for i in $(seq 0 $((NODES - 1))); do node_files+=("$(ls "$WORK/node$i"/storage/*.pcapng)"); done
node_bytes=$(stat -c %s "${node_files[@]}" | awk '{ s += $1 } END { print s }')
merged_bytes=$(stat -c %s "$merged")
stop_s=$(awk "BEGIN { printf \"%.3f\", $end - $start }")

cat "${node_files[@]}" >/dev/null  # warm-up: both measurements below read from the page cache
merge_runs=() cat_runs=()
for _ in 1 2 3; do
  out=$("$MERGE" "$WORK/bench.pcapng" "${node_files[@]}")
  merge_runs+=("${out%% *}")
  packets=$(cut -d' ' -f2 <<<"$out")
  rm -f "$WORK/bench.pcapng"
  s=$(date +%s.%N)
  cat "${node_files[@]}" >/dev/null
  e=$(date +%s.%N)
  cat_runs+=("$(awk "BEGIN { printf \"%.6f\", $e - $s }")")
done
merge_s=$(median "${merge_runs[@]}")
cat_s=$(median "${cat_runs[@]}")
mbps() { awk "BEGIN { printf \"%.0f\", $1 / 1e6 / $2 }"; }

echo "load average before the stop: $load"
echo "nodes' files: $NODES, $((node_bytes / 1000000)) MB in all ($packets packets); merged file $((merged_bytes / 1000000)) MB"
echo
echo "| step | seconds | MB/s of the nodes' files |"
echo "|---|---|---|"
echo "| stop via the relay -> merged file (stop, download, merge) | $stop_s | $(mbps "$node_bytes" "$stop_s") |"
echo "| merge alone (merge_bench, median of 3; merge runs: ${merge_runs[*]}) | $merge_s | $(mbps "$node_bytes" "$merge_s") |"
echo "| cat of the nodes' files to /dev/null (page cache, median of 3) | $cat_s | $(mbps "$node_bytes" "$cat_s") |"
