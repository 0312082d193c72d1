#!/usr/bin/env bash
# Builds and runs every test of pcap-recorder (the README's test command).
#
#   1. scripts/setup.sh: installs what is missing (quick when nothing is).
#   2. A sanitizer build (ASan+UBSan) that runs the unprivileged unit tests.
#   3. The normal build (BPF datapath, daemon, CLI) that runs every test: unit, privileged
#      (real BPF programs, veths in namespaces the tests create) and integration.
#
# Usage: scripts/test.sh [-L LABEL]   e.g. -L unit, -L privileged, -L integration
# Under CI (CI=true) a privileged test that lacks a capability fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

label_args=()
if [ "${1:-}" = "-L" ] && [ -n "${2:-}" ]; then label_args=(-L "$2"); fi

bash scripts/setup.sh

if [ "${CI:-}" = "true" ]; then export RECORDER_REQUIRE_PRIVILEGED=1; fi
jobs=$(nproc)

echo "== sanitizer build (ASan+UBSan): unit tests"
# Warnings are errors in both builds here (RECORDER_WERROR); a packager's build leaves it off.
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRECORDER_SANITIZE=ON -DRECORDER_WERROR=ON \
  -DRECORDER_BUILD_DATAPATH=OFF -DRECORDER_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j "$jobs"
if [ ${#label_args[@]} -eq 0 ] || [ "${label_args[1]}" = "unit" ]; then
  ctest --test-dir build/asan -L unit --output-on-failure -j "$jobs"
fi

echo "== full build: every test"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECORDER_WERROR=ON >/dev/null
cmake --build build/release -j "$jobs"
# Privileged tests share the kernel (tc hooks, namespaces): run them one at a time.
ctest --test-dir build/release "${label_args[@]}" --output-on-failure -j 1

echo "== no leftovers"
bash "$root/scripts/check-leftovers.sh"
