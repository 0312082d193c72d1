#!/usr/bin/env bash
# Runs the pipeline benchmark matrix of docs/benchmarks.md in one go, with the disk's own limit
# (fio, direct io_uring sequential writes) and memcpy bandwidth measured in the same run.
# Each case runs REPEAT times (default 3); the median is reported.
#
#   bench/run_pipeline.sh [BUILD_DIR]      (default build/release; builds pipeline_bench)
# Environment: REPEAT=3 OUT_DIR=/var/tmp/pipeline-bench SMALL_PACKETS=20000000 LARGE_PACKETS=2000000
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/script.sh
build=${1:-build/release}
repeat=${REPEAT:-3}
out=${OUT_DIR:-/var/tmp/pipeline-bench}
small=${SMALL_PACKETS:-20000000}
large=${LARGE_PACKETS:-2000000}

[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target pipeline_bench >/dev/null
bench="$build/bench/pipeline/pipeline_bench"
mkdir -p "$out"

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

echo "== machine: $(nproc) cores, $(uname -r), filesystem of $out: $(df -T "$out" | awk 'NR==2{print $2}')"

fio_bw=()
for _ in $(seq "$repeat"); do
  bw=$(fio --name=seqwrite --rw=write --bs=1M --size=2G --ioengine=io_uring --direct=1 \
         --filename="$out/fio.tmp" --output-format=terse --terse-version=3 2>/dev/null |
       awk -F';' '{print $48/1024}')  # write bandwidth, KiB/s -> MiB/s
  fio_bw+=("$bw"); rm -f "$out/fio.tmp"
done
fio_mib=$(median "${fio_bw[@]}")
echo "fio direct io_uring 1 MiB sequential write: ${fio_mib} MiB/s (median of $repeat: ${fio_bw[*]})"

mc=()
for _ in $(seq "$repeat"); do mc+=("$("$bench" --memcpy | field memcpy_GiBps)"); done
echo "memcpy: $(median "${mc[@]}") GiB/s (median of $repeat)"

run_case() {  # label, args...
  local label=$1; shift
  local pps=() mbps=() loss=() rss=() line
  for _ in $(seq "$repeat"); do
    line=$("$bench" --out-dir "$out/files" "$@")
    pps+=("$(echo "$line" | field captured_pps)")
    mbps+=("$(echo "$line" | field file_MBps)")
    loss+=("$(echo "$line" | field loss_pct)")
    rss+=("$(echo "$line" | field peak_rss_MiB)")
  done
  printf '| %-34s | %12.0f | %9.1f | %7s | %8s |\n' "$label" \
    "$(median "${pps[@]}")" "$(median "${mbps[@]}")" "$(median "${loss[@]}")" "$(median "${rss[@]}")"
}

echo
echo "| case | packets/s | file MB/s | loss % | peak RSS MiB |"
echo "|---|---|---|---|---|"
run_case "64 B, 1 recording" --packet-size 64 --packets "$small" --recordings 1
run_case "64 B, 64 recordings (each 1)" --packet-size 64 --packets "$small" --recordings 64
run_case "64 B, 1 recording, kernel bits" --packet-size 64 --packets "$small" --recordings 1 --kernel-bits
run_case "64 B, 64 recordings, kernel bits" --packet-size 64 --packets "$small" --recordings 64 --kernel-bits
run_case "1500 B, 1 recording" --packet-size 1500 --packets "$large" --recordings 1
run_case "1500 B, 64 recordings (each 1)" --packet-size 1500 --packets "$large" --recordings 64
run_case "1500 B, 1 recording, pwrite" --packet-size 1500 --packets "$large" --recordings 1 --plain-writes
run_case "64 B, 1 recording, pcapng" --packet-size 64 --packets "$small" --recordings 1 --format pcapng
rm -rf "$out"
