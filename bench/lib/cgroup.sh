# shellcheck shell=bash
# cgroup.sh: run a command in its own cgroup v2 and read the CPU time of everything in it (every
# thread, io_uring workers and threads that exited included), in microseconds. Sourced by the
# bench scripts.
#
#   cg_init TAG DIR    finds the cgroup2 hierarchy (mounts one under DIR if there is none);
#                      the cgroups made here are named TAG-NAME
#   cg_start NAME CMD...
#                      starts CMD in the background inside a new cgroup TAG-NAME, from its first
#                      instruction (a shell moves itself in, then execs CMD); sets CG_PID
#   cg_wait_line LOG PATTERN
#                      waits until the command cg_start started last writes a line matching
#                      PATTERN into LOG (its redirected output), e.g. tcpdump's "listening on";
#                      fails, printing LOG, if the command exits first or 60 s pass (loading
#                      BPF programs takes seconds on a busy machine)
#   cg_usec NAME       usage_usec from the cgroup's cpu.stat
#   cg_cpu_limit NAME PERCENT
#                      caps the processes of TAG-NAME (and threads they start later) at PERCENT of
#                      one CPU: a quota of PERCENT ms per 100 ms period, in cpu.max where the
#                      cgroup v2 cpu controller can be had, else through the cgroup v1 cpu
#                      controller (cpu.cfs_quota_us) in a v1 group of the same name (hybrid
#                      hosts, where v1 holds the cpu controller); "max" lifts the cap. CPU time
#                      is still read from the v2 group (cg_usec)
#   cg_stop NAME [SIGNAL]
#                      signals (default TERM) the cgroup's processes, waits up to 10 s for them to
#                      leave (then SIGKILL), removes the cgroup
#   cg_cleanup         cg_stop on every cgroup named TAG-*; unmounts what cg_init mounted
CG_ROOT='' CG_TAG='' CG_MOUNTED='' CG_PID='' CG_CPU_V1=''

cg_init() {
  CG_TAG=$1
  CG_ROOT=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
  if [ -z "$CG_ROOT" ]; then
    CG_ROOT=$2/cgroup2
    mkdir -p "$CG_ROOT"
    mount -t cgroup2 none "$CG_ROOT"
    CG_MOUNTED=$CG_ROOT
  fi
  [ -r "$CG_ROOT/cpu.stat" ] || { echo "cgroup.sh: no cpu.stat in $CG_ROOT" >&2; return 1; }
}

cg_start() {
  local g=$CG_ROOT/$CG_TAG-$1
  shift
  mkdir "$g"
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$g" "$@" &
  CG_PID=$!
}

cg_wait_line() {
  local log=$1 pattern=$2
  for _ in $(seq 600); do
    grep -q "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$CG_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "$pattern" "$log" 2>/dev/null && return 0
  echo "cgroup.sh: no '$pattern' from the command in $log; its output:" >&2
  cat "$log" >&2
  return 1
}

cg_cpu_limit() {
  local name=$1 pct=$2 g=$CG_ROOT/$CG_TAG-$1 quota p
  [[ $pct =~ ^([1-9][0-9]*|max)$ ]] || { echo "cgroup.sh: cpu limit must be a percentage or max, not '$pct'" >&2; return 1; }
  quota=max
  [ "$pct" = max ] || quota=$((pct * 1000))
  if grep -qw cpu "$CG_ROOT/cgroup.controllers" 2>/dev/null; then
    grep -qw cpu "$CG_ROOT/cgroup.subtree_control" || echo +cpu >"$CG_ROOT/cgroup.subtree_control"
    echo "$quota 100000" >"$g/cpu.max"
    return
  fi
  [ -n "$CG_CPU_V1" ] || CG_CPU_V1=$(findmnt -n -t cgroup -O cpu -o TARGET | head -n 1)
  [ -n "$CG_CPU_V1" ] || { echo "cgroup.sh: no cpu controller (cgroup v2 cpu.max or a v1 cpu hierarchy) to cap $name" >&2; return 1; }
  mkdir -p "$CG_CPU_V1/$CG_TAG-$name"
  echo 100000 >"$CG_CPU_V1/$CG_TAG-$name/cpu.cfs_period_us"
  [ "$quota" = max ] && quota=-1
  echo "$quota" >"$CG_CPU_V1/$CG_TAG-$name/cpu.cfs_quota_us"
  for p in $(cat "$g/cgroup.procs"); do echo "$p" >"$CG_CPU_V1/$CG_TAG-$name/cgroup.procs"; done
}

cg_usec() { sed -n 's/^usage_usec //p' "$CG_ROOT/$CG_TAG-$1/cpu.stat"; }

cg_stop() {
  local g=$CG_ROOT/$CG_TAG-$1 sig=${2:-TERM} pids i
  [ -d "$g" ] || return 0
  pids=$(cat "$g/cgroup.procs")
  [ -z "$pids" ] || kill "-$sig" $pids 2>/dev/null || true
  for i in $(seq 100); do
    [ -z "$(cat "$g/cgroup.procs")" ] && break
    [ "$i" != 100 ] || kill -KILL $(cat "$g/cgroup.procs") 2>/dev/null || true
    sleep 0.1
  done
  for i in $pids; do wait "$i" 2>/dev/null || true; done
  for i in $(seq 50); do rmdir "$g" 2>/dev/null && break; sleep 0.1; done
  if [ -n "$CG_CPU_V1" ] && [ -d "$CG_CPU_V1/$CG_TAG-$1" ]; then
    for i in $(seq 50); do rmdir "$CG_CPU_V1/$CG_TAG-$1" 2>/dev/null && break; sleep 0.1; done
  fi
  return 0
}

cg_cleanup() {
  local g
  if [ -n "$CG_ROOT" ] && [ -n "$CG_TAG" ]; then
    for g in "$CG_ROOT/$CG_TAG"-*; do [ -d "$g" ] && cg_stop "${g#"$CG_ROOT/$CG_TAG"-}"; done
  fi
  [ -n "$CG_MOUNTED" ] && umount "$CG_MOUNTED"
  CG_MOUNTED=
  return 0
}
