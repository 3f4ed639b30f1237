#!/usr/bin/env bash
# Runs a command against the NATS and Redis that scripts/ensure-services.sh found or started:
# sets the platform's (SWITCHBOARD_NATS__URL, SWITCHBOARD_REDIS__URL) and the tests'
# (SWITCHBOARD_TEST_NATS_URL, SWITCHBOARD_TEST_REDIS_URL) addresses from
# ${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}/services.env, unless they are set already.
set -euo pipefail

env_file=${SWITCHBOARD_LOCAL_DIR:-.switchboard/local}/services.env
if [ -f "$env_file" ]; then
  nats=$(sed -n 's/^SWITCHBOARD_LOCAL_NATS_URL=//p' "$env_file")
  redis=$(sed -n 's/^SWITCHBOARD_LOCAL_REDIS_URL=//p' "$env_file")
  export SWITCHBOARD_NATS__URL="${SWITCHBOARD_NATS__URL:-$nats}"
  export SWITCHBOARD_REDIS__URL="${SWITCHBOARD_REDIS__URL:-$redis}"
  export SWITCHBOARD_TEST_NATS_URL="${SWITCHBOARD_TEST_NATS_URL:-$nats}"
  export SWITCHBOARD_TEST_REDIS_URL="${SWITCHBOARD_TEST_REDIS_URL:-$redis}"
fi
exec "$@"
