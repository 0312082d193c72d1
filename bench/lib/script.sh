# shellcheck shell=bash
# script.sh: the frame every bench script shares: its command line, its checks, its work
# directory and the cleanup that removes what it made. Sourced by the bench scripts (after
# `set -euo pipefail`).
#
#   bench_options PARTS ROUNDS ARGS...
#                      reads "<build dir> [--parts LIST] [--rounds N]" (and --quick, where the
#                      script set QUICK=0 before the call, and --cpu-max PCT, where it set
#                      CPU_MAX=''); PARTS is every part there is (the default), ROUNDS the default
#                      number of rounds; sets BUILD, PARTS, ROUNDS (QUICK=1 for --quick, CPU_MAX
#                      a percentage of one CPU, 1-100). -h, --help or a wrong word: the usage and
#                      exit 2
#   has_part NAME      whether --parts names NAME
#   usage              the usage block of the script's header (from its "#   sudo" line to the
#                      next paragraph) on stderr, exit 2
#   fail MESSAGE       "<script>: MESSAGE" on stderr, exit 1
#   need_root WHY      fails unless run as root; WHY says what needs it
#   need_tools HINT TOOL...
#                      fails naming the first TOOL that is not installed, and HINT (how to get it)
#   positive_number NAME VALUE
#                      fails (exit 2) unless VALUE is a whole number above 0; NAME is what it is
#   bench_workdir TAG [BASE]
#                      sets TAG and DIR, a new directory BASE/TAG.XXXX (default BASE /var/tmp);
#                      at exit, also on Ctrl-C: the script's on_cleanup (when it defines one,
#                      e.g. to stop its processes), cg_cleanup and veth_delete (when those libs
#                      are sourced), then DIR is removed
#   log MESSAGE        "[HH:MM:SS] MESSAGE" on stderr
#   median VALUE...    the median of the numbers
BENCH_SCRIPT=$(basename "$0")
BUILD='' PARTS='' ROUNDS='' TAG='' DIR=''

usage() {
  awk '/^#   sudo /{on=1} on && /^# [^ ]/{exit} on' "$0" | sed 's/^# \{0,1\}//' | sed '${/^$/d}' >&2
  exit 2
}

fail() {
  echo "$BENCH_SCRIPT: $*" >&2
  exit 1
}

bench_options() {
  local all=$1 p
  PARTS=$1 ROUNDS=$2
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --parts) PARTS=${2:?--parts needs a list}; shift ;;
      --rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
      --quick) [ -n "${QUICK+set}" ] || { echo "$BENCH_SCRIPT: unknown option $1" >&2; usage; }; QUICK=1 ;;
      --cpu-max)
        [ -n "${CPU_MAX+set}" ] || { echo "$BENCH_SCRIPT: unknown option $1" >&2; usage; }
        CPU_MAX=${2:?--cpu-max needs a percentage}
        [[ $CPU_MAX =~ ^([1-9][0-9]?|100)$ ]] || { echo "$BENCH_SCRIPT: --cpu-max must be a percentage of one CPU (1-100), not '$CPU_MAX'" >&2; exit 2; }
        shift ;;
      -h | --help) usage ;;
      -*) echo "$BENCH_SCRIPT: unknown option $1" >&2; usage ;;
      *) [ -z "$BUILD" ] || usage; BUILD=$1 ;;
    esac
    shift
  done
  [ -n "$BUILD" ] || usage
  positive_number --rounds "$ROUNDS"
  for p in ${PARTS//,/ }; do
    [[ ,$all, == *,$p,* ]] || { echo "$BENCH_SCRIPT: --parts: unknown part '$p' (${all//,/, })" >&2; exit 2; }
  done
}

has_part() { [[ ,$PARTS, == *,$1,* ]]; }

need_root() { [ "$(id -u)" = 0 ] || fail "needs root ($1)"; }

need_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is missing: $hint"
  done
}

positive_number() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "$BENCH_SCRIPT: $1 must be a positive number, not '$2'" >&2; exit 2; }
}

bench_workdir() {
  TAG=$1
  DIR=$(mktemp -d "${2:-/var/tmp}/$TAG.XXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  trap - INT TERM
  if declare -F on_cleanup >/dev/null; then on_cleanup || true; fi
  if declare -F cg_cleanup >/dev/null; then cg_cleanup; fi
  if declare -F veth_delete >/dev/null; then veth_delete; fi
  rm -rf "$DIR"
}

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
