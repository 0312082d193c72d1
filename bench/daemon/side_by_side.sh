#!/bin/bash
# side_by_side.sh: the shipped recorderd next to tcpdump and xdpdump, each started as a user starts
# it, on one veth workload: CPU per packet, loss, CPU when idle (next to the floor: recorderd's
# gRPC server alone), and the highest lossless rate.
#
#   sudo bench/daemon/side_by_side.sh <build dir> [--quick] [--rounds N] [--parts LIST] [--cpu-max PCT]
#
#   <build dir>     has src/daemon/recorderd and src/cli/recorderctl, and for the idle part
#                   bench/daemon/grpc_idle_floor (e.g. build/release)
#   --quick         one round, shorter traffic and idle windows, a shorter rate ladder (~3 min)
#   --rounds N      alternating rounds of the per-packet part (default 3)
#   --parts LIST    comma-separated, of: packet, idle, lossless (default all three)
#   --cpu-max PCT   the lossless part caps each capturer at PCT % of one CPU (the same quota for
#                   recorderd and tcpdump), so that the capturer, not trafgen, sets the limit
#
# The workload: a private namespace with a veth pair (bench/lib/veth_workload.sh); trafgen inside
# it sends UDP frames (10.199.0.2:4000 -> 10.199.0.1:9000) to the host end. The frames' destination
# MAC is not the host end's, so the host's IP stack drops them at once (no ICMP, no ARP: nothing
# but the workload crosses the link). The capturers, on the host end:
#
#   recorderd   recorderd --interfaces IF (defaults otherwise) with one recording started by
#               recorderctl start "10.199.0.2 0 10.199.0.1 9000 UDP" --max-capture-len 128;
#               the daemon is started once and stays up for the whole run, as a node daemon
#               does (its start-up, mostly the BPF verifier, takes seconds); each run starts
#               and stops (and deletes) one recording in it. While a peer runs, the daemon is up
#               with no recording: its tc program rejects each frame in softirq context (charged
#               to trafgen), and its own idle CPU is in its cgroup, not the peer's.
#   tcpdump     tcpdump -i IF -s 128 -w FILE -n udp
#   xdpdump     xdpdump -i IF -s 128 -w FILE   (no XDP program on the veth: it captures in its
#               legacy libpcap mode, as a user who runs it there gets)
#   grpc_idle_floor SOCKET  (idle part only) recorderd's gRPC server built as recorderd builds it,
#               with no recorder, BPF or recording (bench/daemon/grpc_idle_floor.cpp): what gRPC
#               alone costs when nothing happens, the floor under recorderd's idle figure
#
# Each capturer runs alone, in its own cgroup v2 from its first instruction (bench/lib/cgroup.sh:
# every thread, io_uring workers and threads that exited included), and is measured over the
# same window: from the start of the traffic to 1 s after it ends (start-up and shut-down are
# outside it). CPU ns per packet is that CPU time over the packets trafgen sent. Loss is the
# frames sent that are not in the capturer's file; for recorderd also the daemon's own lost
# counters (`recorderctl status`). Work the kernel does in softirq context (the tc program, the
# AF_PACKET tap) is charged to the task it interrupts, usually trafgen, for every capturer.
#
# Parts:
#   packet    60 B and 1,500 B frames; 20 kpps and 100 kpps (trafgen -b, sendto), unpaced sendto
#             (-t 0) and unpaced through trafgen's TX ring (non-linear skbs); rounds alternate
#             the capturers' order; a markdown table of medians (ranges) per workload and capturer
#   idle      no traffic: recorderd with 1 and with 64 running recordings, the bare gRPC server
#             (grpc_idle_floor) and tcpdump, CPU microseconds per second over 10 s (after 2 s to
#             settle); for recorderd with one recording also its split per thread name over the
#             same window (bench/lib/threads.sh: CPU µs/s and wakeups/s from
#             /proc/PID/task/*/schedstat), which shows which threads pay
#   lossless  one recording, 128-byte snap, 60 B and 1,500 B frames: trafgen's rate is stepped up
#             (paced, then unpaced sendto, unpaced TX ring, and two trafgen processes on the TX
#             ring, which leaves the capturer competing with them for the 2 CPUs) until a step
#             loses a frame, for recorderd and for tcpdump; one trial per step. Uncapped, both
#             capturers keep up with the fastest trafgen on a 2-CPU VM, so the search ends at
#             trafgen's limit; with --cpu-max each capturer's cgroup gets the same CPU quota
#             (bench/lib/cgroup.sh cg_cpu_limit: PCT ms per 100 ms, cpu.max or the v1 cpu
#             controller), applied once it listens and for the lossless part only, and the ladder
#             starts lower (10, 20, 30, 50, 70 kpps): the highest lossless rate is then the
#             capturer's at that quota. Each keeps the buffers its user gets (recorderd 8 MiB per
#             CPU, tcpdump libpcap's 2 MiB), which carry it through the quota's pauses and absorb
#             part of a short unpaced run (UNPACED_PACKETS frames): a rate found on an unpaced
#             step is for a run that long, not sustained
#
# Needs root, trafgen (netsniff-ng), tcpdump, xdpdump (xdp-tools), capinfos (tshark), python3:
# scripts/setup.sh installs them. Everything created (namespace, veth, cgroups, processes, files)
# is removed on exit, also on Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/cgroup.sh"
. "$HERE/../lib/recorderd.sh"
. "$HERE/../lib/threads.sh"

QUICK=0 CPU_MAX=''
bench_options packet,idle,lossless 3 "$@"
need_root "namespaces, cgroups, BPF"
need_tools "run scripts/setup.sh" trafgen tcpdump xdpdump capinfos python3 findmnt

# Sizes of the runs.
if [ "$QUICK" = 1 ]; then
  ROUNDS=1 PACED_SECONDS=1 UNPACED_PACKETS=200000 IDLE_SECONDS=3
  LADDER=(100000 200000 sendto txring txring2)
else
  PACED_SECONDS=2 UNPACED_PACKETS=400000 IDLE_SECONDS=10
  LADDER=(50000 100000 150000 200000 300000 sendto txring txring2)
fi
SIZES=(60 1500)
MODES=(20000 100000 sendto txring)
CAPTURERS=(recorderd tcpdump xdpdump)
FILTER="10.199.0.2 0 10.199.0.1 9000 UDP"
OTHER_MAC=02:00:00:00:00:01 # not the host end's: the frames are PACKET_OTHERHOST there

bench_workdir prsbs$$
veth_create "$TAG"
cg_init "$TAG" "$DIR"
recorderd_init "$BUILD" "$DIR"
mkdir -p "$DIR/files"
RESULTS=$DIR/results.tsv # part, workload, capturer, round, sent, seconds, usec, in file, daemon lost
# (part "threads": part, process, thread name, threads, CPU µs/s, wakeups/s)
: >"$RESULTS"
BINARY=$(recorderd_build)
FLOOR=$BUILD/bench/daemon/grpc_idle_floor
! has_part idle || [ -x "$FLOOR" ] || fail "$FLOOR is missing (build the grpc_idle_floor target)"
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

# Frames in FILE that are the workload's.
count_frames() {
  local tmp=$DIR/files/count.pcap
  tcpdump -r "$1" -w "$tmp" 'udp dst port 9000' 2>/dev/null
  capinfos -c -M "$tmp" | sed -n 's/^Number of packets: *//p'
  rm -f "$tmp"
}

# Starts capturer $1 in its cgroup; returns once it captures (grpc_idle_floor: once it serves).
# tcpdump and xdpdump write to $2. recorderd is started once and kept (see the header); a run
# starts and stops a recording in it.
DAEMON_PID=
start_capturer() {
  local name=$1 file=$2
  case $name in
    recorderd)
      if [ -z "$DAEMON_PID" ]; then
        cg_start "$name" "${RECORDERD_ARGS[@]}" --interfaces "$HOST" >"$DIR/recorderd.log" 2>&1
        DAEMON_PID=$CG_PID
        recorderd_wait "$DAEMON_PID"
      fi
      return ;;
    tcpdump) cg_start "$name" tcpdump -i "$HOST" -s 128 -w "$file" -n udp >"$DIR/$name.log" 2>&1 ;;
    xdpdump) cg_start "$name" xdpdump -i "$HOST" -s 128 -w "$file" >"$DIR/$name.log" 2>&1 ;;
    grpc_idle_floor) cg_start "$name" "$FLOOR" "$DIR/floor.sock" >"$DIR/$name.log" 2>&1 ;;
  esac
  cg_wait_line "$DIR/$name.log" "listening on"
}

# run_capture NAME CFG PACKETS MODE: one capturer, one workload (capped at $LIMIT % of one CPU
# from the moment it listens, when LIMIT is set). Sets SENT (frames trafgen sent),
# SECS (its wall time), USEC (the capturer's CPU over the window), IN_FILE (workload frames in its
# file), LOST (the daemon's lost counter; - for the peers).
SENT='' SECS='' USEC='' IN_FILE='' LOST=''
run_capture() {
  local name=$1 cfg=$2 packets=$3 mode=$4 file=$DIR/files/$1.pcap id='' u0 u1
  LOST=-
  start_capturer "$name" "$file"
  [ -z "${LIMIT:-}" ] || cg_cpu_limit "$name" "$LIMIT"
  if [ "$name" = recorderd ]; then id=$(ctl start "$FILTER" --max-capture-len 128); fi
  sleep 0.5
  u0=$(cg_usec "$name")
  read -r SENT SECS < <(trafgen_send "$cfg" "$packets" "$mode")
  sleep 1
  u1=$(cg_usec "$name")
  USEC=$((u1 - u0))
  if [ -n "$id" ]; then # the daemon's counters, and its file
    read -r _ LOST _ _ _ file < <(recording_counts "$(ctl --json stop "$id")")
    IN_FILE=$(count_frames "$file")
    ctl delete "$id" >/dev/null
  else
    cg_stop "$name"
    IN_FILE=$(count_frames "$file")
    rm -f "$file"
  fi
}

kpps() { awk "BEGIN { printf \"%.0f\", $SENT / $SECS / 1000 }"; } # trafgen's rate in the last run
packets_for() { # PACKETS for MODE at the configured lengths
  case $1 in sendto | txring | txring2) echo "$UNPACED_PACKETS" ;; *) echo $(($1 * PACED_SECONDS)) ;; esac
}
mode_name() {
  case $1 in
    sendto) echo "unpaced, sendto (-t 0)" ;;
    txring) echo "unpaced, TX ring" ;;
    txring2) echo "unpaced, TX ring, 2 trafgen processes" ;;
    *) echo "$(($1 / 1000)) kpps (-b, sendto)" ;;
  esac
}

if has_part packet; then
  for round in $(seq "$ROUNDS"); do
    for size in "${SIZES[@]}"; do
      udp_frame_cfg "$DIR/frame.cfg" "$size" "$OTHER_MAC"
      for mode in "${MODES[@]}"; do
        # Rotate the capturers' order from round to round.
        for k in 0 1 2; do
          name=${CAPTURERS[$(((k + round) % 3))]}
          run_capture "$name" "$DIR/frame.cfg" "$(packets_for "$mode")" "$mode"
          log "round $round, $size B, $(mode_name "$mode"): $name $((USEC * 1000 / SENT)) ns/packet, $IN_FILE of $SENT in file, daemon lost $LOST, $(kpps) kpps"
          printf 'packet\t%s B, %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$(mode_name "$mode")" \
            "$name" "$round" "$SENT" "$SECS" "$USEC" "$IN_FILE" "$LOST" >>"$RESULTS"
        done
      done
    done
  done
  [ -z "$CPU_MAX" ] || [ -z "$DAEMON_PID" ] || cg_cpu_limit recorderd max
fi

if has_part idle; then
  # idle_window NAME [PID FILE]: prints the CPU microseconds per second of cgroup NAME over
  # IDLE_SECONDS (after 2 s to settle); with PID, writes that process's split per thread over the
  # same window into FILE (thread_split).
  idle_window() {
    local u0 u1
    sleep 2
    u0=$(cg_usec "$1")
    if [ $# = 3 ]; then thread_split "$2" "$IDLE_SECONDS" >"$3"; else sleep "$IDLE_SECONDS"; fi
    u1=$(cg_usec "$1")
    awk "BEGIN { printf \"%.1f\", ($u1 - $u0) / $IDLE_SECONDS }"
  }
  start_capturer recorderd -
  ids=$(ctl start "$FILTER" --max-capture-len 128)
  one=$(idle_window recorderd "$DAEMON_PID" "$DIR/threads.tsv")
  log "idle: recorderd, 1 recording: $one us/s"
  while IFS=$'\t' read -r thread n usec wakeups; do
    log "idle: recorderd, 1 recording: thread $thread (x$n): $usec us/s, $wakeups wakeups/s"
  done <"$DIR/threads.tsv"
  for port in $(seq 9001 9063); do
    ids+=" $(ctl start "10.199.0.2 0 10.199.0.1 $port UDP" --max-capture-len 128)"
  done
  running=$(ctl --json list | python3 -c '
import json, sys
r = json.load(sys.stdin); r = r.get("recordings", r) if isinstance(r, dict) else r
print(sum(1 for x in r if x.get("state") == "RECORDING_STATE_RUNNING"))')
  sixtyfour=$(idle_window recorderd)
  log "idle: recorderd, $running recordings: $sixtyfour us/s"
  for id in $ids; do ctl stop "$id" >/dev/null && ctl delete "$id" >/dev/null; done
  start_capturer grpc_idle_floor -
  floor=$(idle_window grpc_idle_floor)
  log "idle: bare gRPC server (grpc_idle_floor): $floor us/s"
  cg_stop grpc_idle_floor
  start_capturer tcpdump "$DIR/files/idle.pcap"
  tcpdump_idle=$(idle_window tcpdump)
  log "idle: tcpdump: $tcpdump_idle us/s"
  cg_stop tcpdump
  {
    printf 'idle\t-\trecorderd, 1 recording\t1\t-\t-\t%s\t-\t-\n' "$one"
    printf 'idle\t-\trecorderd, %s recordings\t1\t-\t-\t%s\t-\t-\n' "$running" "$sixtyfour"
    printf 'idle\t-\tbare gRPC server (grpc_idle_floor)\t1\t-\t-\t%s\t-\t-\n' "$floor"
    printf 'idle\t-\ttcpdump\t1\t-\t-\t%s\t-\t-\n' "$tcpdump_idle"
    sed 's/^/threads\trecorderd, 1 recording\t/' "$DIR/threads.tsv"
  } >>"$RESULTS"
fi

if has_part lossless; then
  CAPPED=
  if [ -n "$CPU_MAX" ]; then
    # Finer steps at the low end, where a capped capturer gives up.
    low=(10000 20000 30000 50000 70000) rest=()
    for m in "${LADDER[@]}"; do [[ $m =~ ^[0-9]+$ ]] && ((m <= 70000)) || rest+=("$m"); done
    LADDER=("${low[@]}" "${rest[@]}")
    CAPPED=", each capturer capped at $CPU_MAX % of one CPU"
  fi
  for size in "${SIZES[@]}"; do
    udp_frame_cfg "$DIR/frame.cfg" "$size" "$OTHER_MAC"
    for name in recorderd tcpdump; do
      paced_limit=0
      for mode in "${LADDER[@]}"; do
        # Once trafgen cannot pace as fast as asked, only the unpaced steps remain.
        [ "$paced_limit" = 1 ] && [[ $mode =~ ^[0-9]+$ ]] && continue
        LIMIT=$CPU_MAX run_capture "$name" "$DIR/frame.cfg" "$(packets_for "$mode")" "$mode"
        log "lossless search, $size B, $name, $(mode_name "$mode"): $(kpps) kpps, $IN_FILE of $SENT in file, daemon lost $LOST"
        printf 'lossless\t%s B%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$CAPPED" "$name" "$mode" "$SENT" \
          "$SECS" "$USEC" "$IN_FILE" "$LOST" >>"$RESULTS"
        if [ "$IN_FILE" -lt "$SENT" ] || { [ "$LOST" != - ] && [ "$LOST" != 0 ]; }; then break; fi
        if [[ $mode =~ ^[0-9]+$ ]] && [ "$(kpps)" -lt $((mode * 8 / 10000)) ]; then paced_limit=1; fi
      done
    done
  done
fi

log "done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Measured $(date -u +%Y-%m-%d), ending $(date -u +%H:%M) UTC: $BINARY; load average" \
  "$LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end."
echo
python3 "$HERE/side_by_side_table.py" "$RESULTS"
