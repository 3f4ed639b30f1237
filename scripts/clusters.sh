#!/usr/bin/env bash
# A 3-node NATS JetStream cluster and a 3-master Redis Cluster on loopback, private to one run.
#
#   scripts/clusters.sh test [cargo test args…]   start both, run the given tests against them
#                                                 (streams R3, the store in cluster mode), stop
#   scripts/clusters.sh start                     start both; prints the environment to export
#   scripts/clusters.sh stop DIR                  stop a started pair
#
# The switch is the environment: SWITCHBOARD_TEST_NATS_URL (three servers),
# SWITCHBOARD_TEST_NATS_REPLICAS=3, SWITCHBOARD_TEST_REDIS_URL (three masters) and
# SWITCHBOARD_TEST_REDIS_CLUSTER=1.
set -euo pipefail

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A Redis Cluster node also listens on its port + 10000 (the cluster bus): pick a port below
# 55536 whose bus port is free too.
free_redis_port() {
  python3 - <<'PY'
import random, socket
while True:
    p = random.randint(20000, 45000)
    try:
        for port in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", port)); s.close()
        print(p)
        break
    except OSError:
        continue
PY
}

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

start() {
  local dir
  dir=$(mktemp -d /tmp/sb-clusters.XXXXXX)
  local np=() cp=() mp=() rp=()
  for i in 1 2 3; do np+=("$(free_port)"); cp+=("$(free_port)"); mp+=("$(free_port)"); rp+=("$(free_redis_port)"); done
  local routes="nats://127.0.0.1:${cp[0]},nats://127.0.0.1:${cp[1]},nats://127.0.0.1:${cp[2]}"
  for i in 0 1 2; do
    mkdir -p "$dir/n$i" "$dir/r$i"
    nats-server -a 127.0.0.1 -p "${np[$i]}" -m "${mp[$i]}" -js -sd "$dir/n$i" \
      --server_name "n$i" --cluster_name sbtest --cluster "nats://127.0.0.1:${cp[$i]}" --routes "$routes" \
      >"$dir/n$i.log" 2>&1 &
    echo $! >>"$dir/pids"
    redis-server --port "${rp[$i]}" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/r$i/nodes.conf" --dir "$dir/r$i" --save "" --appendonly no \
      >"$dir/r$i.log" 2>&1 &
    echo $! >>"$dir/pids"
  done
  for i in 0 1 2; do
    wait_port "${np[$i]}" || { cat "$dir/n$i.log" >&2; stop "$dir"; exit 1; }
    wait_port "${rp[$i]}" || { cat "$dir/r$i.log" >&2; stop "$dir"; exit 1; }
  done
  redis-cli --cluster create "127.0.0.1:${rp[0]}" "127.0.0.1:${rp[1]}" "127.0.0.1:${rp[2]}" \
    --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1
  for _ in $(seq 1 200); do
    ok=1
    for i in 0 1 2; do
      redis-cli -p "${rp[$i]}" cluster info 2>/dev/null | grep -q "cluster_state:ok" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  # JetStream is clustered once a meta leader is elected.
  for _ in $(seq 1 300); do
    if python3 - "${mp[0]}" <<'PY' 2>/dev/null; then break; fi
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/jsz", timeout=1))
sys.exit(0 if (d.get("meta_cluster") or {}).get("leader") else 1)
PY
    sleep 0.1
  done
  echo "export SB_CLUSTERS_DIR=$dir"
  echo "export SWITCHBOARD_TEST_NATS_URL=nats://127.0.0.1:${np[0]},nats://127.0.0.1:${np[1]},nats://127.0.0.1:${np[2]}"
  echo "export SWITCHBOARD_TEST_NATS_REPLICAS=3"
  echo "export SWITCHBOARD_TEST_REDIS_URL=redis://127.0.0.1:${rp[0]},redis://127.0.0.1:${rp[1]},redis://127.0.0.1:${rp[2]}"
  echo "export SWITCHBOARD_TEST_REDIS_CLUSTER=1"
  echo "export SB_CLUSTER_NATS_PIDS=\"$(sed -n '1p;3p;5p' "$dir/pids" | tr '\n' ' ')\""
}

stop() {
  local dir=$1
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
    sleep 0.3
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/pids"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "$2" ;;
  test)
    shift
    env_lines=$(start)
    eval "$env_lines"
    trap 'stop "$SB_CLUSTERS_DIR"' EXIT
    echo "clustered engines: NATS $SWITCHBOARD_TEST_NATS_URL (streams R3), Redis Cluster $SWITCHBOARD_TEST_REDIS_URL"
    cargo test "$@"
    ;;
  *) echo "usage: $0 test [cargo test args…] | start | stop DIR" >&2; exit 2 ;;
esac
