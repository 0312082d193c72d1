# shellcheck shell=bash
# recorderd.sh: the shipped daemon and its CLI, as a user runs them. Sourced by the bench scripts.
#
#   recorderd_init BUILD DIR  the binaries of BUILD; the daemon's storage, socket and log go
#                             under DIR; sets RECORDERD_ARGS (the daemon's command line, without
#                             --interfaces)
#   recorderd_wait PID        waits until the daemon with PID serves its socket (fails, with its
#                             log, if it exits or 10 s pass)
#   ctl ARGS...               recorderctl against that daemon
#   recording_counts JSON     from `ctl --json status|stop ID`: "CAPTURED LOST KERNEL QUEUE WRITE
#                             FILE" (the daemon's own counters and its file path)
RECORDERD='' RECORDERCTL='' RECORDERD_DIR='' RECORDERD_ARGS=()

recorderd_init() {
  RECORDERD=$1/src/daemon/recorderd RECORDERCTL=$1/src/cli/recorderctl RECORDERD_DIR=$2
  local b
  for b in "$RECORDERD" "$RECORDERCTL"; do
    [ -x "$b" ] || { echo "recorderd.sh: $b is missing (build the recorderd and recorderctl targets)" >&2; return 1; }
  done
  RECORDERD_ARGS=("$RECORDERD" --storage-path "$2/storage" --socket "$2/sock" --min-free-disk 0
    --log-level warn)
}

recorderd_wait() {
  for _ in $(seq 100); do
    [ -S "$RECORDERD_DIR/sock" ] && ctl list >/dev/null 2>&1 && return 0
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "recorderd did not come up; its log:" >&2
  cat "$RECORDERD_DIR/recorderd.log" >&2 2>/dev/null
  return 1
}

ctl() { "$RECORDERCTL" --server "unix://$RECORDERD_DIR/sock" "$@"; }

recording_counts() {
  python3 -c '
import json, sys
r = json.load(sys.stdin); s = r.get("stats", {}); l = s.get("loss", {})
print(s.get("packets_captured", 0), s.get("packets_lost", 0), l.get("kernel_packets", 0),
      l.get("queue_packets", 0), l.get("write_packets", 0), r.get("file_path") or "-")' <<<"$1"
}
