#!/bin/bash
# Whether a process waits for work or for a CPU: every 2 s, for the main thread of each process
# whose command line matches one of the patterns, the time it ran and the time it was runnable
# but waiting for a CPU (the kernel's schedstat), in ms per second of wall time.
#   bench/sched-wait.sh 'amqp/generator.mjs' 'apps/broker/dist/bin.js'   # during a bench run
# run + wait near 1000 ms/s: never idle, CPU-starved; run + wait well below: it waits for input.
set -u
declare -A ran waited
for _ in $(seq 1 60); do
  line=""
  for pattern in "$@"; do
    for pid in $(pgrep -f -- "$pattern"); do
      # Not this script, nor a wrapper such as timeout: their command lines hold the patterns too.
      [ "$pid" = $$ ] || [ "$pid" = "$PPID" ] && continue
      read -r r w _ 2>/dev/null < "/proc/$pid/task/$pid/schedstat" || continue
      [ -n "${ran[$pid]:-}" ] && line="$line $pattern[$pid]: run $(( (r - ${ran[$pid]}) / 2000000 )) wait $(( (w - ${waited[$pid]}) / 2000000 )) |"
      ran[$pid]=$r
      waited[$pid]=$w
    done
  done
  [ -n "$line" ] && echo "$(date -u +%T)$line"
  sleep 2
done
