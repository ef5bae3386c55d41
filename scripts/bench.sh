#!/usr/bin/env bash
# One benchmark run of the server against the floor of what it does (bench/run.ts): lock+unlock
# latency and throughput, 1 MiB and 100 MiB pushes and reads, peak memory. Not a test, not in CI.
# Starts its own PostgreSQL and S3 (the test services); prints a table and writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build --silent
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
trap stop_test_services EXIT
npx tsx bench/run.ts "$@"
