#!/usr/bin/env bash
set -euo pipefail
# What scripts/bare-clone-check.sh runs inside the lone clone: what `make test` would set up
# (deps), then the tests that need no running platform beyond NATS and Redis.
./scripts/ensure-deps.sh
cargo test --workspace --lib --bins --no-fail-fast
cargo test -p switchboard-catalog --no-fail-fast
cargo test -p switchboard-testkit --test dependency_loops --no-fail-fast # no dev-dependency loop
cargo test -p switchboard-tests --test it --no-fail-fast -- triggers::
