#!/bin/bash
# profile.sh: where the shipped recorderd spends its CPU under one veth workload, per thread.
#
#   sudo bench/daemon/profile.sh <build dir> <frame bytes> <rate pps|sendto> [seconds] [out dir]
#
# The workload and the daemon are side_by_side.sh's (one recording, 128-byte snap, trafgen in
# sendto mode paced with -b, or unpaced with -t 0 for "sendto"). While trafgen sends for `seconds` (default 5), it records:
#
#   perf stat  -e task-clock,context-switches,cpu-migrations --per-thread  (the daemon's threads:
#              CPU and wakeups per second each)
#   perf record --call-graph dwarf the daemon's process (all threads, 10 kHz: a quiet daemon
#                                  gets few samples at the default rate)
#   perf record -a -g              the whole machine over the same window, for the kernel side
#                                  (the tc program, the ring buffer: softirq work charged to
#                                  trafgen), reported for the trafgen command only (the daemon's
#                                  own kernel time is in the first profile)
#
# and prints: the per-thread table, the daemon's top symbols per thread (perf report --sort
# comm,sym), the kernel-side top symbols, and the recording's counters. The perf data files stay
# in `out dir` (default a temporary directory that is removed) for perf report.
#
# Needs root, perf (linux-perf), trafgen. Removes everything it created on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/recorderd.sh"

[ $# -ge 3 ] && [ $# -le 5 ] || usage
BUILD=$1 SIZE=$2 RATE=$3 SECONDS_=${4:-5} OUT=${5:-}
positive_number "frame bytes" "$SIZE"
[[ $RATE =~ ^[1-9][0-9]*$ ]] || [ "$RATE" = sendto ] ||
  { echo "$BENCH_SCRIPT: rate must be packets per second or sendto, not '$RATE'" >&2; exit 2; }
positive_number seconds "$SECONDS_"
need_root "namespaces, BPF, perf"
need_tools "install linux-perf and netsniff-ng (scripts/setup.sh)" perf trafgen

DAEMON=
on_cleanup() { [ -z "$DAEMON" ] || { kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null; }; }
bench_workdir prprof$$
[ -n "$OUT" ] || OUT=$DIR/perf
mkdir -p "$OUT"

veth_create "$TAG"
recorderd_init "$BUILD" "$DIR"
"${RECORDERD_ARGS[@]}" --interfaces "$HOST" >"$DIR/recorderd.log" 2>&1 &
DAEMON=$!
recorderd_wait "$DAEMON"
id=$(ctl start "10.199.0.2 0 10.199.0.1 9000 UDP" --max-capture-len 128)
udp_frame_cfg "$DIR/frame.cfg" "$SIZE" 02:00:00:00:00:01
sleep 1

# Enough frames to outlast the profiles.
PPS=$RATE
[ "$RATE" = sendto ] && PPS=400000 # more than trafgen reaches here
trafgen_send "$DIR/frame.cfg" $((PPS * (SECONDS_ + 3))) "$RATE" >"$DIR/trafgen.out" &
TRAFGEN=$!
sleep 1
perf stat -e task-clock,context-switches,cpu-migrations --per-thread -p "$DAEMON" \
  -o "$OUT/stat.txt" -- sleep "$SECONDS_" &
STAT=$!
perf record -q -F 10000 --call-graph dwarf,16384 -p "$DAEMON" -o "$OUT/daemon.data" -- sleep "$SECONDS_" 2>/dev/null &
RECORD=$!
perf record -q -a -g -o "$OUT/system.data" -- sleep "$SECONDS_" 2>/dev/null
wait "$STAT" "$RECORD"
wait "$TRAFGEN" || true
sleep 0.5

echo "== recorderd, $SIZE B frames at $RATE pps, $SECONDS_ s: per thread (perf stat --per-thread)"
printf "%-28s %12s %14s %12s\n" "thread" "CPU ms/s" "switches/s" "migr/s"
awk -v s="$SECONDS_" '
  $2 ~ /^[0-9.,]+$/ && ($3 == "msec" || $3 == "context-switches" || $3 == "cpu-migrations") {
    v = $2; gsub(",", "", v); key = $1
    if ($3 == "msec") cpu[key] = v; else if ($3 == "context-switches") cs[key] = v; else mig[key] = v
  }
  END {
    for (k in cpu) printf "%-28s %12.2f %14.0f %12.1f\n", k, cpu[k] / s, cs[k] / s, mig[k] / s
  }' "$OUT/stat.txt" | sort -k2 -nr
echo
echo "== recorderd: what each thread runs (its recorder functions with the most samples below them)"
for t in $(ls /proc/"$DAEMON"/task); do
  printf '%-8s %-16s %s\n' "$t" "$(cat /proc/"$DAEMON"/task/"$t"/comm)" "$(perf report -i "$OUT/daemon.data" \
    --tid "$t" --children --sort sym --stdio -g none 2>/dev/null | grep -o 'recorder::[^(]*' | head -3 | paste -sd' ')"
done
echo
echo "== recorderd: top symbols per thread (perf report --sort pid,sym, children off)"
perf report -i "$OUT/daemon.data" --no-children --sort pid,sym --stdio -g none --percent-limit 1 \
  2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
echo
echo "== kernel side: trafgen's samples, whose softirqs run the tc program (perf record -a)"
perf report -i "$OUT/system.data" --no-children --comms trafgen --sort dso,sym \
  --percentage relative --stdio -g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' | head -50
echo
read -r sent secs <"$DIR/trafgen.out" || true
echo "== trafgen sent ${sent:-?} frames in ${secs:-?} s"
echo "== recording: $(recording_counts "$(ctl --json stop "$id")" | cut -d' ' -f1-5) (captured lost kernel queue write)"
