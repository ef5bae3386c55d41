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
