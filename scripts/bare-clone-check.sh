#!/usr/bin/env bash
# `make test` must pass on a clone of the repository with nothing beside it. This clones the
# committed tree into an empty temporary directory (no ../shared, no .switchboard, no venvs) and
# runs there every unit test, the catalog's tests and the integration tests that read committed
# fixtures. The target directory is shared with the checkout (CARGO_TARGET_DIR) so dependencies
# are not built twice; the clone's own crates are built from the clone's sources.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-hardlinks "$root" "$tmp/alone/switchboard"
cd "$tmp/alone/switchboard"
if [ -n "$(ls -A "$tmp/alone" | grep -vx switchboard)" ]; then
  echo "the clone is not alone in its directory" >&2
  exit 1
fi
echo "bare clone: $(git rev-parse --short HEAD) in $PWD (nothing beside it)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
SWITCHBOARD_LOCAL_DIR=${SWITCHBOARD_LOCAL_DIR:-$root/.switchboard/local} "$root/scripts/with-services.sh" ./scripts/test-bare.sh
