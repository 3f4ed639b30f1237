#!/usr/bin/env bash
# Runs the whole suite and closes with one line totalling every test binary's results
# ("tests: N passed, N failed, N skipped"), since cargo's own last line is only the last binary's.
set -uo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
./scripts/validate-deploy.sh 2>&1 | tee -a "$log"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1 # deploy/: adds a "test result:" line
# A representative set again, against a 3-node NATS cluster (streams R3) and a 3-master Redis
# Cluster started on loopback for this run.
./scripts/clusters.sh test -p switchboard-tests --test it --no-fail-fast -- \
  sessions:: session_update:: execute:: execute_scale:: triggers:: \
  oauth::authorize_link oauth::refresh_before mcp::an_mcp_client 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

read -r passed failed ignored < <(
  grep -E '^test result: ' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
    awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}'
)
echo
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cargo test exited with status $status before all tests ran (a build error?)"
  failed=1
fi
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$status"
