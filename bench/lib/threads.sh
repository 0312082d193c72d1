# shellcheck shell=bash
# threads.sh: which threads of a process pay for its CPU time and wake it. Sourced by the bench
# scripts.
#
#   thread_split PID SECONDS
#                      sleeps SECONDS, then prints one line per thread name of process PID:
#                      "NAME<TAB>THREADS<TAB>CPU µs/s<TAB>WAKEUPS/s" over that window, the
#                      costliest first. From /proc/PID/task/*/schedstat (field 1: ns on the CPU,
#                      field 3: timeslices, the times the thread was put on a CPU, which for a
#                      thread that sleeps between them are its wakeups); threads of one name are
#                      summed, THREADS says how many there were. A thread that started during
#                      the window counts from 0; one that ended is missing
thread_split() {
  local pid=$1 secs=$2 before
  before=$(thread_times "$pid")
  [ -n "$before" ] || { echo "thread_split: no process $pid" >&2; return 1; }
  sleep "$secs"
  awk -F'\t' -v s="$secs" '
    FILENAME == ARGV[1] { ns[$1] = $3; slices[$1] = $4; next }
    { n[$2]++; cpu[$2] += $3 - ns[$1]; wake[$2] += $4 - slices[$1] }
    END { for (k in n) printf "%s\t%d\t%.1f\t%.2f\n", k, n[k], cpu[k] / 1000 / s, wake[k] / s }' \
    <(printf '%s\n' "$before") <(thread_times "$pid") | sort -t $'\t' -k3,3gr -k1,1
}

# "TID<TAB>NAME<TAB>NS ON CPU<TAB>TIMESLICES" per thread of process $1; a thread that ends while
# it is read is left out.
thread_times() {
  local t name ns slices
  for t in /proc/"$1"/task/*; do
    { read -r name <"$t/comm" && read -r ns _ slices <"$t/schedstat"; } 2>/dev/null || continue
    printf '%s\t%s\t%s\t%s\n' "${t##*/}" "$name" "$ns" "$slices"
  done
}
