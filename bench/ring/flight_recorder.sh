#!/bin/bash
# flight_recorder.sh: the flight recorder (issue 12) in the shipped recorderd: what a ring with its
# index costs at ingest next to a plain recording, how fast a snapshot cuts one flow out of a
# ring of more than 2 GiB from a cold page cache, a full scan's throughput next to fio's
# sequential read bandwidth, and the ring's disk use against its budget.
#
#   sudo bench/ring/flight_recorder.sh <build dir> [--parts LIST] [--rounds N]
#
#   <build dir>     has src/daemon/recorderd and src/cli/recorderctl (e.g. build/release)
#   --parts LIST    comma-separated, of: ingest, query (default both)
#   --rounds N      alternating rounds of the ingest part (default 2)
#
# The workload is bench/daemon/side_by_side.sh's: trafgen in a private namespace sends UDP frames
# (10.199.0.2:4000 -> 10.199.0.1:9000) to the host end of a veth, where one recorderd captures
# (started once, in its own cgroup v2: bench/lib/cgroup.sh).
#
# ingest   64 B and 1,500 B frames, unpaced through trafgen's TX ring; per round a ring
#          (`recorderctl ring start`, filter 10.199.0.2 0 10.199.0.1 9000 UDP, whole packets,
#          256 MiB chunks) and a plain recording (`recorderctl start`, same filter, whole
#          packets), in alternating order. Each run: the daemon's CPU (its cgroup) from the start
#          of the traffic to 1 s after it, over the frames sent; the frames captured and lost
#          (the daemon's counters). The ratio is the ring's CPU per packet over the recording's.
# query    a ring "fill" on everything (any 0 any 0 ANY), --max-size 2304MiB, --chunk-size
#          128MiB, filled with 1,500 B frames by two trafgen processes until retention has
#          deleted a chunk (so the ring holds more than 2 GiB); after each batch of 200,000
#          frames of the bulk flow, 200 frames of a rare flow (10.199.0.2:5000 -> 10.199.0.1:9999,
#          0.1 % of the packets). du of the ring directory is sampled after every batch and at
#          the end, against max_bytes + one chunk. Then, with the traffic stopped:
#          sync; echo 3 > /proc/sys/vm/drop_caches before each of: a snapshot of the rare flow
#          (the index path), a snapshot of everything (a full read of every chunk), and fio
#          reading the ring's chunk files sequentially (buffered, 1 MiB blocks, --readonly).
#          Everything is deleted at the end.
#
# Needs root, trafgen (netsniff-ng), fio, python3 (scripts/setup.sh installs trafgen; fio is a
# bench-only dependency: `apt-get install -y fio`). Everything created (namespace, veth,
# cgroups, processes, files, the ring) is removed on exit, also on Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/script.sh"
. "$HERE/../lib/veth_workload.sh"
. "$HERE/../lib/cgroup.sh"
. "$HERE/../lib/recorderd.sh"

bench_options ingest,query 2 "$@"
need_root "namespaces, cgroups, BPF, drop_caches"
need_tools "run scripts/setup.sh (fio: apt-get install -y fio)" trafgen python3 findmnt \
  $(has_part query && echo fio)

INGEST_PACKETS=300000
FILTER="10.199.0.2 0 10.199.0.1 9000 UDP"
RARE="10.199.0.2 5000 10.199.0.1 9999 UDP"
OTHER_MAC=02:00:00:00:00:01 # not the host end's: the host's stack drops the frames at once
MIB=$((1 << 20))
MAX_BYTES=$((2304 * MIB)) CHUNK=$((128 * MIB))

bench_workdir prfr$$
load() { cut -d' ' -f1 /proc/loadavg; }

veth_create "$TAG"
cg_init "$TAG" "$DIR"
recorderd_init "$BUILD" "$DIR"
echo "Binary: $(recorderd_build); $(nproc) CPUs; load average $(load) at the start."
cg_start recorderd "${RECORDERD_ARGS[@]}" --interfaces "$HOST" >"$DIR/recorderd.log" 2>&1
recorderd_wait "$CG_PID"

json_get() { # json_get EXPR: evaluates EXPR on the JSON object r read from stdin
  python3 -c "import json, sys; r = json.loads(sys.stdin.read() or '{}'); print($1)"
}
json_of() { sed -n '/^{/,$p'; } # recorderctl --json may print a line before the object

if has_part ingest; then
  echo
  echo "Ingest: $INGEST_PACKETS frames per run, unpaced (trafgen TX ring), whole packets."
  echo
  echo "| frame | round | capturer | kpps sent | captured / sent | daemon lost | CPU ns/packet | load |"
  echo "|---|---|---|---|---|---|---|---|"
  SUMMARY=$DIR/ingest.tsv
  : >"$SUMMARY"
  for size in 64 1500; do
    udp_frame_cfg "$DIR/frame.cfg" "$size" "$OTHER_MAC"
    for round in $(seq "$ROUNDS"); do
      order=(ring recording)
      [ $((round % 2)) = 0 ] && order=(recording ring)
      for kind in "${order[@]}"; do
        if [ "$kind" = ring ]; then
          ctl ring start bench "$FILTER" --max-size 4GiB --chunk-size 256MiB >/dev/null
        else
          id=$(ctl start "$FILTER")
        fi
        sleep 0.5
        u0=$(cg_usec recorderd)
        read -r sent secs < <(trafgen_send "$DIR/frame.cfg" "$INGEST_PACKETS" txring)
        sleep 1
        u1=$(cg_usec recorderd)
        if [ "$kind" = ring ]; then
          ctl ring stop bench >/dev/null
          read -r captured lost < <(ctl --json ring status bench | json_of |
            json_get 'r["stats"].get("packets_captured", 0), r["stats"].get("packets_lost", 0)')
          ctl ring delete bench >/dev/null
        else
          read -r captured lost _ < <(recording_counts "$(ctl --json stop "$id" | json_of)")
          ctl delete "$id" >/dev/null
        fi
        ns=$(((u1 - u0) * 1000 / sent))
        kpps=$(awk "BEGIN { printf \"%.0f\", $sent / $secs / 1000 }")
        printf '| %s B | %s | %s | %s | %s / %s | %s | %s | %s |\n' "$size" "$round" "$kind" \
          "$kpps" "$captured" "$sent" "$lost" "$ns" "$(load)"
        printf '%s\t%s\t%s\n' "$size" "$kind" "$ns" >>"$SUMMARY"
      done
    done
  done
  echo
  python3 - "$SUMMARY" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
for size in ("64", "1500"):
    ring = statistics.median(int(r[2]) for r in rows if r[0] == size and r[1] == "ring")
    rec = statistics.median(int(r[2]) for r in rows if r[0] == size and r[1] == "recording")
    print(f"{size} B: ring {ring:.0f} ns/packet, recording {rec:.0f} ns/packet (medians): "
          f"the ring costs {ring / rec:.2f}x the recording's CPU per packet, i.e. on this CPU "
          f"budget it sustains {100 * rec / ring:.0f} % of the recording's rate")
PY
fi

if has_part query; then
  RING_DIR=$DIR/storage/rings/fill
  du_bytes() { du -sb "$RING_DIR" | cut -f1; }
  ring_json() { ctl --json ring status fill | json_of; }
  drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
  echo
  ctl ring start fill "any 0 any 0 ANY" --max-size "$((MAX_BYTES / MIB))MiB" \
    --chunk-size "$((CHUNK / MIB))MiB" >/dev/null
  udp_frame_cfg "$DIR/bulk.cfg" 1500 "$OTHER_MAC"
  cat >"$DIR/rare.cfg" <<CFG
{ eth(da=$OTHER_MAC, sa=02:00:00:00:00:99), ipv4(sa=10.199.0.2, da=10.199.0.1, ttl=64), udp(sp=5000, dp=9999), fill(0x42, 1458) }
CFG
  fill_start=$(date +%s.%N) bulk=0 rare=0 max_du=0 batches=0
  while :; do
    read -r s _ < <(trafgen_send "$DIR/bulk.cfg" 200000 txring2)
    bulk=$((bulk + s))
    read -r s _ < <(trafgen_send "$DIR/rare.cfg" 200 sendto)
    rare=$((rare + s)) batches=$((batches + 1))
    d=$(du_bytes)
    ((d > max_du)) && max_du=$d
    deleted=$(ring_json | json_get 'int(r.get("chunks_deleted", 0))')
    log "fill batch $batches: ring dir $((d / MIB)) MiB, chunks deleted $deleted, load $(load)"
    [ "$deleted" -gt 0 ] && break
    ((batches < 60)) || { echo "flight_recorder.sh: the ring did not wrap in 60 batches" >&2; exit 1; }
  done
  fill_secs=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $fill_start }")
  sleep 1
  read -r held captured lost < <(ring_json | json_get \
    'r.get("bytes", 0), r["stats"].get("packets_captured", 0), r["stats"].get("packets_lost", 0)')
  after_du=$(du_bytes)
  ctl ring stop fill >/dev/null
  echo "Query: ring 'fill' (--max-size $((MAX_BYTES / MIB))MiB --chunk-size $((CHUNK / MIB))MiB)" \
    "filled in $fill_secs s with $bulk bulk + $rare rare frames of 1,500 B sent; the ring" \
    "captured $captured, lost $lost, holds $((held / MIB)) MiB; load $(load)."
  echo
  echo "| measure | result | load |"
  echo "|---|---|---|"
  echo "| ring held after the fill (RingInfo.bytes) | $((held / MIB)) MiB | $(load) |"
  echo "| disk use (du -sb of the ring dir), highest sampled during the fill | $((max_du / MIB)) MiB (budget + one chunk: $(((MAX_BYTES + CHUNK) / MIB)) MiB) | $(load) |"
  echo "| disk use after the fill | $((after_du / MIB)) MiB | $(load) |"

  drop_caches
  t0=$(date +%s.%N)
  out=$(ctl --json snapshot fill "$RARE" | json_of)
  t1=$(date +%s.%N)
  read -r n chunks examined < <(json_get \
    'r["recording"]["stats"].get("packets_captured", 0), r.get("chunks_read", 0), r.get("packets_examined", 0)' <<<"$out")
  id=$(json_get 'r["recording"]["id"]' <<<"$out")
  echo "| snapshot of the rare flow (cold cache): $n packets ($rare sent), $chunks chunks read, $examined records examined | $(awk "BEGIN { printf \"%.3f s\", $t1 - $t0 }") | $(load) |"
  ctl delete "$id" >/dev/null

  drop_caches
  t0=$(date +%s.%N)
  out=$(ctl --json snapshot fill | json_of)
  t1=$(date +%s.%N)
  read -r n size < <(json_get 'r["recording"]["stats"].get("packets_captured", 0), r["recording"].get("file_size", 0)' <<<"$out")
  id=$(json_get 'r["recording"]["id"]' <<<"$out")
  echo "| full scan: snapshot of everything (cold cache): $n packets, $((size / MIB)) MiB written | $(awk "BEGIN { printf \"%.1f s, %.0f MiB/s read\", $t1 - $t0, $held / 1048576 / ($t1 - $t0) }") | $(load) |"
  ctl delete "$id" >/dev/null

  drop_caches
  files=$(find "$RING_DIR" -name 'chunk-*' ! -name '*.idx' | sort | paste -sd:)
  fio_bw=$(fio --name=seqread --readonly --rw=read --bs=1M --ioengine=psync --filename="$files" \
    --output-format=json | json_get 'r["jobs"][0]["read"]["bw_bytes"] / 1048576')
  echo "| fio sequential read of the same chunk files (cold cache, 1 MiB buffered reads) | $(printf '%.0f' "$fio_bw") MiB/s | $(load) |"
  ctl ring delete fill >/dev/null
fi
log "done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
