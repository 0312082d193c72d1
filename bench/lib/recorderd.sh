# shellcheck shell=bash
# recorderd.sh: the shipped daemon and its CLI, as a user runs them. Sourced by the bench scripts.
#
#   recorderd_init BUILD DIR  the binaries of BUILD; the daemon's storage, socket and log go
#                             under DIR; sets RECORDERD_ARGS (the daemon's command line, without
#                             --interfaces)
#   recorderd_wait PID        waits until the daemon with PID serves its socket (fails, with its
#                             log, if it exits or 10 s pass)
#   wait_socket PID SOCKET LOG [TRIES]
#                             the same for any server of the gRPC API (recorderd, recorder-relay)
#                             on SOCKET, logging to LOG; TRIES tenths of a second (default 100)
#   recorderd_build           which binary runs: its build time, the source tree and commit it was
#                             built from, the last commit that changed src/ or bpf/; warns (log)
#                             when the binary is older than that commit
#   ctl ARGS...               recorderctl against that daemon
#   recording_counts JSON     from `ctl --json status|stop ID`: "CAPTURED LOST KERNEL QUEUE WRITE
#                             FILE" (the daemon's own counters and its file path)
RECORDERD='' RECORDERCTL='' RECORDERD_BUILD='' RECORDERD_DIR='' RECORDERD_ARGS=()

recorderd_init() {
  RECORDERD=$1/src/daemon/recorderd RECORDERCTL=$1/src/cli/recorderctl RECORDERD_BUILD=$1
  RECORDERD_DIR=$2
  local b
  for b in "$RECORDERD" "$RECORDERCTL"; do
    [ -x "$b" ] || { echo "recorderd.sh: $b is missing (build the recorderd and recorderctl targets)" >&2; return 1; }
  done
  RECORDERD_ARGS=("$RECORDERD" --storage-path "$2/storage" --socket "$2/sock" --min-free-disk 0
    --log-level warn)
}

recorderd_wait() { wait_socket "$1" "$RECORDERD_DIR/sock" "$RECORDERD_DIR/recorderd.log"; }

wait_socket() {
  for _ in $(seq "${4:-100}"); do
    [ -S "$2" ] && "$RECORDERCTL" --server "unix://$2" list >/dev/null 2>&1 && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server of $2 did not come up; its log ($3):" >&2
  cat "$3" >&2 2>/dev/null
  return 1
}

recorderd_build() {
  local built src head code
  built=$(date -u -r "$RECORDERD" +%Y-%m-%dT%H:%MZ)
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$RECORDERD_BUILD/CMakeCache.txt" 2>/dev/null || true)
  head=$(git -C "${src:-/nonexistent}" log -1 --format=%h 2>/dev/null || true)
  code=$(git -C "${src:-/nonexistent}" log -1 --format='%h %ct' -- src bpf 2>/dev/null || true)
  if [ -n "$code" ] && [ "$(date -r "$RECORDERD" +%s)" -lt "${code#* }" ]; then
    echo "warning: $RECORDERD is older than the last change to src/ or bpf/ (${code% *}): rebuild it" >&2
  fi
  echo "$RECORDERD (built $built${head:+, source $src at $head, code last changed in ${code% *}})"
}

ctl() { "$RECORDERCTL" --server "unix://$RECORDERD_DIR/sock" "$@"; }

recording_counts() {
  python3 -c '
import json, sys
r = json.load(sys.stdin); s = r.get("stats", {}); l = s.get("loss", {})
print(s.get("packets_captured", 0), s.get("packets_lost", 0), l.get("kernel_packets", 0),
      l.get("queue_packets", 0), l.get("write_packets", 0), r.get("file_path") or "-")' <<<"$1"
}
