#!/usr/bin/env bash
# Fails when a test left something of ours behind: a namespace, a recorderd process, a BPF
# program of ours attached to tc, or a pinned map. Tests must clean up, also when they fail.
set -u
bad=0
ns=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(prt|rec)' || true)
if [ -n "$ns" ]; then echo "leftover namespaces: $ns"; bad=1; fi
procs=$(pgrep -a -x recorderd || true)
if [ -n "$procs" ]; then echo "leftover recorderd: $procs"; bad=1; fi
progs=$(bpftool prog show 2>/dev/null | grep -E 'recorder_(in|e)gress' || true)
if [ -n "$progs" ]; then echo "leftover BPF programs: $progs"; bad=1; fi
if [ -d /sys/fs/bpf/pcap-recorder ]; then echo "leftover pins under /sys/fs/bpf/pcap-recorder"; bad=1; fi
if [ $bad -eq 0 ]; then echo "no leftovers"; fi
exit $bad
