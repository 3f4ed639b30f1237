#!/usr/bin/env bash
# Makes sure a NATS server with JetStream and a writable Redis answer on loopback, starting our
# own when what is there is not usable, and writes where they are to $dir/services.env, which
# scripts/with-services.sh reads for `make run`, `make test` and `make bench`.
#
#   NATS  127.0.0.1:${NATS_PORT:-4222} is used when it is a NATS server with JetStream on for
#         anonymous clients. Nothing there: ours starts on that port. Something there that is
#         not usable (JetStream off, as Debian's packaged service is; a password needed; another
#         program): ours starts on a free port instead, with its own store directory.
#   Redis 127.0.0.1:${REDIS_PORT:-6379} is used when it answers PING without a password and
#         accepts a write. Otherwise the same as for NATS.
#
# Servers are started as plain background processes (never through systemd); their pid files,
# data and logs go to $dir (${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}), and
# scripts/stop-services.sh (`make stop`) stops exactly those.
set -euo pipefail

nats_port=${NATS_PORT:-4222}
redis_port=${REDIS_PORT:-6379}
dir=${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# What answers on a port, as NATS: jetstream | no-jetstream | auth | not-nats | closed.
probe_nats() {
  local out
  out=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || { echo closed; exit 0; }
    IFS= read -r -t 2 info <&3 || { echo not-nats; exit 0; }
    case "$info" in 'INFO {'*) ;; *) echo not-nats; exit 0 ;; esac
    case "$info" in *'"auth_required":true'*) echo auth; exit 0 ;; esac
    case "$info" in *'"jetstream":true'*) ;; *) echo no-jetstream; exit 0 ;; esac
    # JetStream is on in the server; ask it for our account's JetStream info, as a client would.
    printf 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nSUB _SBPROBE.%s 1\r\nPUB $JS.API.INFO _SBPROBE.%s 0\r\n\r\n' $$ $$ >&3
    while IFS= read -r -t 3 line <&3; do
      line=${line%$'\r'}
      case "$line" in
        -ERR*) echo auth; exit 0 ;;
        PING) printf 'PONG\r\n' >&3 ;;
        'MSG '*)
          IFS= read -r -t 2 payload <&3 || payload=""
          case "$payload" in *'"error"'*) echo no-jetstream ;; *'account_info_response'*) echo jetstream ;; *) echo no-jetstream ;; esac
          exit 0
          ;;
      esac
    done
    echo no-jetstream
  ) || true
  echo "${out:-closed}"
}

# What answers on a port, as Redis: usable | auth | read-only | not-redis | closed.
probe_redis() {
  local out
  if ! port_open "$1"; then echo closed; return; fi
  out=$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>&1 </dev/null) || true
  case "$out" in
    PONG) ;;
    *NOAUTH* | *"Authentication required"* | *WRONGPASS*) echo auth; return ;;
    *) echo not-redis; return ;;
  esac
  out=$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" set "switchboard:probe:$$" 1 px 1000 2>&1 </dev/null) || true
  if [ "$out" = OK ]; then echo usable; else echo read-only; fi
}

# A free port at or after a random one in [base, base+1000).
free_port() {
  local port=$(($1 + RANDOM % 1000))
  while port_open "$port"; do port=$((port + 1)); done
  echo "$port"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_ready() { # name probe port pidfile log: ready when it answers and is the process we started
  for _ in $(seq 1 100); do
    case "$($2 "$3")" in jetstream | usable) pid_alive "$4" && return 0 ;; esac
    if [ -f "$4" ] && ! pid_alive "$4"; then break; fi
    sleep 0.1
  done
  echo "$1 did not start on 127.0.0.1:$3 (see $5)" >&2
  return 1
}

start_nats() { # port -> starts ours on it; 1 when it could not (e.g. another took the port)
  local port=$1 store="$dir/nats-$1"
  rm -f "$dir/nats-$port.pid"
  nohup nats-server -a 127.0.0.1 -p "$port" -js -sd "$store" \
    >"$dir/nats-$port.log" 2>&1 </dev/null &
  echo $! >"$dir/nats-$port.pid"
  wait_ready NATS probe_nats "$port" "$dir/nats-$port.pid" "$dir/nats-$port.log"
}

start_redis() {
  local port=$1
  rm -f "$dir/redis-$port.pid"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --dbfilename "redis-$port.rdb" --appendonly yes --appendfilename "redis-$port.aof" \
    --save "" --logfile "$dir/redis-$port.log" --pidfile "$dir/redis-$port.pid"
  wait_ready Redis probe_redis "$port" "$dir/redis-$port.pid" "$dir/redis-$port.log"
}

# ensure NAME probe start default-port private-base wanted -> prints the port to use
ensure() {
  local name=$1 probe=$2 start=$3 port=$4 base=$5 wanted=$6 state saved
  state=$($probe "$port")
  if [ "$state" = "$wanted" ]; then
    echo "$name answers on 127.0.0.1:$port" >&2
    echo "$port"
    return
  fi
  if [ "$state" = closed ]; then
    echo "starting $name on 127.0.0.1:$port" >&2
    $start "$port" >&2 && { echo "$port"; return; }
  else
    echo "127.0.0.1:$port is not usable as $name ($state): using a private $name" >&2
  fi
  # Ours from an earlier run, when it still answers.
  saved=$(cat "$dir/$name.port" 2>/dev/null || true)
  if [ -n "$saved" ] && [ "$saved" != "$port" ] && [ "$($probe "$saved")" = "$wanted" ]; then
    echo "$name (private, started earlier) answers on 127.0.0.1:$saved" >&2
    echo "$saved"
    return
  fi
  for _ in 1 2 3 4 5; do
    saved=$(free_port "$base")
    echo "starting a private $name on 127.0.0.1:$saved" >&2
    if $start "$saved" >&2; then
      echo "$saved" >"$dir/$name.port"
      echo "$saved"
      return
    fi
  done
  echo "could not start $name" >&2
  return 1
}

nats=$(ensure nats probe_nats start_nats "$nats_port" 14000 jetstream)
redis=$(ensure redis probe_redis start_redis "$redis_port" 16000 usable)

cat >"$dir/services.env.tmp" <<EOF
# Written by scripts/ensure-services.sh: the NATS and Redis that make run/test/bench use.
SWITCHBOARD_LOCAL_NATS_URL=nats://127.0.0.1:$nats
SWITCHBOARD_LOCAL_REDIS_URL=redis://127.0.0.1:$redis
EOF
mv "$dir/services.env.tmp" "$dir/services.env"
echo "NATS nats://127.0.0.1:$nats, Redis redis://127.0.0.1:$redis (in $dir/services.env)"
