#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, starts real PostgreSQL and a
# real S3 server, runs every test file with tap, and ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
trap stop_test_services EXIT

status=0
npm run build --silent
npx tap "$@" 2>&1 | tee /tmp/state-ledger-tap.$$ || status=$?
summary=$(grep -E '^# \{ total: ' /tmp/state-ledger-tap.$$ | tail -n 1 || true)
rm -f /tmp/state-ledger-tap.$$
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary")
[ -n "$pass" ] || { pass=0; status=1; fail=${fail:-1}; }
echo "${pass} passed, ${fail:-0} failed${skip:+, $skip skipped}"
exit $status
