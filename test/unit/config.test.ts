import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import { loadConfig } from '../../src/config.js';

t.test('defaults give the zero-setup mode', async (t) => {
  const config = loadConfig({});
  t.ok(E.isRight(config));
  if (E.isRight(config)) {
    t.match(config.right, { port: 8080, host: '127.0.0.1', dataDir: './data', databaseUrl: undefined, s3: undefined, users: undefined });
    t.equal(config.right.maxStateBytes, 512 * 1024 * 1024);
  }
});

t.test('S3 and users are decoded', async (t) => {
  const config = loadConfig({
    S3_ENDPOINT: 'minio',
    S3_PORT: '9000',
    S3_USE_SSL: 'true',
    S3_ACCESS_KEY: 'k',
    S3_SECRET_KEY: 's',
    AUTH_USERS: 'ann:pa:ss, ben:x',
  });
  t.ok(E.isRight(config));
  if (E.isRight(config)) {
    t.match(config.right.s3, { endPoint: 'minio', port: 9000, useSSL: true, bucket: 'state-ledger', region: 'us-east-1' });
    t.same([...(config.right.users ?? [])], [
      ['ann', 'pa:ss'],
      ['ben', 'x'],
    ]);
  }
});

t.test('a bad value names the variable and what it expects', async (t) => {
  t.same(loadConfig({ PORT: 'eighty' }), E.left(['PORT must be an integer from 0 to 65535, got "eighty"']));
  t.match(loadConfig({ AUTH_USERS: 'nopassword' }), E.left([/^AUTH_USERS must be a comma-separated list/]));
  const secret = loadConfig({ AUTH_USERS: 'admin:s3cret,bob', DATABASE_URL: 'mysql://u:hunter2@x' });
  t.ok(E.isLeft(secret));
  t.notMatch(JSON.stringify(secret), /s3cret|hunter2/, 'secrets are not echoed');
  t.match(loadConfig({ S3_USE_SSL: 'maybe' }), E.left([/^S3_USE_SSL must be true or false/]));
  t.match(loadConfig({ DATABASE_URL: 'mysql://x' }), E.left([/^DATABASE_URL must be a postgres/]));
  t.same(loadConfig({ S3_ENDPOINT: 'minio' }), E.left(['S3_ACCESS_KEY must be set when S3_ENDPOINT is set', 'S3_SECRET_KEY must be set when S3_ENDPOINT is set']));
});

t.test('checkpoints: the signing key and the interval', async (t) => {
  const checkpoints = (env: NodeJS.ProcessEnv) => {
    const config = loadConfig(env);
    return E.isRight(config) ? config.right.checkpoints : config.left;
  };
  t.strictSame(
    checkpoints({}),
    { signingKey: { file: 'data/ledger-signing-key.pem', generate: true }, intervalMs: 300_000 },
    'zero-setup: a key generated into DATA_DIR, a checkpoint every 5 minutes',
  );
  t.strictSame(
    checkpoints({ DATA_DIR: '/srv/ledger', DATABASE_URL: 'postgres://db/ledger' }),
    { signingKey: { file: '/srv/ledger/ledger-signing-key.pem', generate: true }, intervalMs: 300_000 },
    'unset with DATABASE_URL: still generated into DATA_DIR',
  );
  t.strictSame(
    checkpoints({ LEDGER_SIGNING_KEY: '/run/secrets/ledger.pem', DATABASE_URL: 'postgres://db/ledger', CHECKPOINT_INTERVAL: '0' }),
    { signingKey: { file: '/run/secrets/ledger.pem', generate: false }, intervalMs: 0 },
    'a key named in production must exist (never silently replaced); 0 turns the timer off',
  );
  t.strictSame(
    checkpoints({ LEDGER_SIGNING_KEY: 'mine.pem', CHECKPOINT_INTERVAL: '60' }),
    { signingKey: { file: 'mine.pem', generate: true }, intervalMs: 60_000 },
    'zero-setup generates even a key it was told the path of',
  );
  t.strictSame(checkpoints({ CHECKPOINT_INTERVAL: '5m' }), ['CHECKPOINT_INTERVAL must be an integer from 0 to 604800, got "5m"']);
  t.strictSame(checkpoints({ CHECKPOINT_INTERVAL: '-1' }), ['CHECKPOINT_INTERVAL must be an integer from 0 to 604800, got "-1"']);
});

t.test('METRICS_PORT: off by default, a port apart from PORT', async (t) => {
  const metricsPort = (env: NodeJS.ProcessEnv) => {
    const config = loadConfig(env);
    return E.isRight(config) ? config.right.metricsPort : config.left;
  };
  t.strictSame(metricsPort({}), undefined, 'unset: /metrics only on the main port, for administrators');
  t.strictSame(metricsPort({ METRICS_PORT: '9464' }), 9464);
  t.strictSame(metricsPort({ METRICS_PORT: '0' }), ['METRICS_PORT must be an integer from 1 to 65535, got "0"']);
  t.strictSame(metricsPort({ METRICS_PORT: 'prometheus' }), ['METRICS_PORT must be an integer from 1 to 65535, got "prometheus"']);
  t.strictSame(metricsPort({ METRICS_PORT: '8080' }), ['METRICS_PORT must differ from PORT (8080): it serves the metrics without authentication, apart from the API']);
  t.strictSame(metricsPort({ PORT: '9000', METRICS_PORT: '8080' }), 8080, 'the default PORT taken elsewhere is fine');
});

t.test('LOCK_TTL: a default lease and leases per glob, or none', async (t) => {
  const leases = (env: NodeJS.ProcessEnv) => {
    const config = loadConfig(env);
    return E.isRight(config) ? config.right.lockLeases : config.left;
  };
  t.strictSame(leases({}), { rules: [], fallback: undefined }, 'unset: locks have no lease');
  t.strictSame(leases({ LOCK_TTL: '2h' }), { rules: [], fallback: 7200 });
  t.strictSame(leases({ LOCK_TTL: '2h, team-a/**=30m ,prod/*=off,90' }), [
    'LOCK_TTL must be a duration (2h), or GLOB=DURATION entries with an optional default, comma-separated (2h,team-a/**=30m,prod/*=off): "90": only one value may apply to every state; give the others a glob (GLOB=VALUE)',
  ]);
  t.strictSame(leases({ LOCK_TTL: 'team-a/**=30m,prod/*=off,1d' }), {
    rules: [
      { glob: 'team-a/**', value: 1800 },
      { glob: 'prod/*', value: null },
    ],
    fallback: 86400,
  });
  const refusal = (why: string) => [`LOCK_TTL must be a duration (2h), or GLOB=DURATION entries with an optional default, comma-separated (2h,team-a/**=30m,prod/*=off): ${why}`];
  t.strictSame(leases({ LOCK_TTL: 'forever' }), refusal('"forever": expected a duration such as 90s, 30m, 2h or 7d (at most 366d)'));
  t.strictSame(leases({ LOCK_TTL: '0s' }), refusal('"0s": expected a duration such as 90s, 30m, 2h or 7d (at most 366d)'));
  t.strictSame(leases({ LOCK_TTL: '367d' }), refusal('"367d": expected a duration such as 90s, 30m, 2h or 7d (at most 366d)'));
  t.strictSame(leases({ LOCK_TTL: 'a b=1h' }), refusal('"a b=1h": the glob must be state-name characters with * and **'));
});
