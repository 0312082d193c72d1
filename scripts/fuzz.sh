#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) into build/fuzz
# and runs each for a bounded time, starting from seeds that fuzz_make_seeds writes (real frames
# from tests/support/packet_builder.h, filter texts, start requests) into build/fuzz/seeds/<target>.
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
#   targets: decode_packet parse_filter classifier request_validation (default: all)
# The corpus grown by a run stays in build/fuzz/corpus/<target>; crashes go to
# build/fuzz/artifacts/<target>/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(decode_packet parse_filter classifier request_validation); fi

build=build/fuzz
# Warnings are not errors here: this is a clang build whose job is finding crashes; the warning
# gate is the normal (gcc) build.
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECORDER_FUZZ=ON \
  -DRECORDER_WERROR=OFF \
  -DRECORDER_BUILD_DATAPATH=OFF -DRECORDER_BUILD_SERVICE=ON -DRECORDER_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j 2 --target fuzz_make_seeds "${targets[@]/#/fuzz_}"
"$build/tests/fuzz/fuzz_make_seeds" "$build/seeds"

status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz_$t for ${seconds}s"
  log="$build/fuzz_$t.log"
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts" -max_len=4096 "$corpus" "$build/seeds/$t" >"$log" 2>&1; then
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
    echo "   corpus: $(ls "$corpus" | wc -l) inputs; $(grep -Eo 'cov: [0-9]+' "$log" | tail -1)"
  else
    echo "   FAILED: see $log and $artifacts" >&2
    tail -30 "$log" >&2
    status=1
  fi
done
exit $status
