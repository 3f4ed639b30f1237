#!/usr/bin/env bash
# Stops the NATS and Redis servers that scripts/ensure-services.sh started (`make stop`): those
# with a pid file in ${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}, and nothing else. Their data
# stays in that directory for the next start.
set -euo pipefail

dir=${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}
[ -d "$dir" ] || exit 0

for pidfile in "$dir"/nats-*.pid "$dir"/redis-*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  name=$(basename "$pidfile" .pid)
  # Only a process that is still the server we started (pids are reused).
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE '(nats-server|redis-server)'; then
    echo "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name did not stop within 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
done
rm -f "$dir/services.env"
