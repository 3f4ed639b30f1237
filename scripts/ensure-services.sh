#!/usr/bin/env bash
# Starts NATS (with JetStream) and Redis on loopback when they are not already answering.
# Addresses: NATS 127.0.0.1:${NATS_PORT:-4222}, Redis 127.0.0.1:${REDIS_PORT:-6379}.
# Data and logs of servers started here go to ${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}.
set -euo pipefail

nats_port=${NATS_PORT:-4222}
redis_port=${REDIS_PORT:-6379}
dir=${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do
    if port_open "$1"; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not start on 127.0.0.1:$1 (see $3)" >&2
  return 1
}

if port_open "$nats_port"; then
  echo "NATS already answers on 127.0.0.1:$nats_port"
else
  echo "starting NATS with JetStream on 127.0.0.1:$nats_port"
  nohup nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$dir/nats" \
    >"$dir/nats.log" 2>&1 </dev/null &
  wait_port "$nats_port" NATS "$dir/nats.log"
fi

if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  echo "Redis already answers on 127.0.0.1:$redis_port"
else
  echo "starting Redis on 127.0.0.1:$redis_port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
    --dir "$dir" --appendonly yes --save "" --logfile "$dir/redis.log"
  wait_port "$redis_port" Redis "$dir/redis.log"
fi
