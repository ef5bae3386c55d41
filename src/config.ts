import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import path from 'node:path';
import { decodeOidcIssuers, type OidcIssuer } from './identity/oidc-issuers.js';
import { noPolicy, parseDuration, parseGlobPolicy, type GlobPolicy } from './policies/glob-policy.js';
import { parseRetention, type Retention } from './retention/policy.js';

/** Builds a codec for one environment variable; `expected` is what the error line says it wants. */
const envVar = <A>(expected: string, parse: (raw: string) => A | undefined, fallback: A | undefined) =>
  new t.Type<A | undefined, string | undefined, unknown>(
    expected,
    (_u): _u is A | undefined => true,
    (u, c) => {
      if (u === undefined || u === '') return t.success(fallback);
      const parsed = typeof u === 'string' ? parse(u) : undefined;
      return parsed === undefined ? t.failure(u, c, expected) : t.success(parsed);
    },
    (a) => (a === undefined ? undefined : String(a)),
  );

const integer = (min: number, max: number, fallback?: number) =>
  envVar(
    `an integer from ${min} to ${max}`,
    (raw) => {
      const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
    fallback,
  );

const text = (fallback?: string) => envVar('a non-empty string', (raw) => raw, fallback);

const bool = (fallback: boolean) =>
  envVar('true or false', (raw) => ({ true: true, false: false, 1: true, 0: false })[raw.trim().toLowerCase()], fallback);

export type Users = ReadonlyMap<string, string>;

const users = envVar<Users>(
  'a comma-separated list of name:password (names unique, passwords not empty)',
  (raw) => {
    const pairs = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    const map = new Map<string, string>();
    for (const pair of pairs) {
      const colon = pair.indexOf(':');
      if (colon < 1 || colon === pair.length - 1) return undefined;
      const name = pair.slice(0, colon);
      if (map.has(name)) return undefined;
      map.set(name, pair.slice(colon + 1));
    }
    return map.size > 0 ? map : undefined;
  },
  undefined,
);

const url = envVar('a postgres:// or postgresql:// URL', (raw) => (/^postgres(ql)?:\/\/\S+$/.test(raw) ? raw : undefined), undefined);

const logLevel = envVar(
  'one of fatal, error, warn, info, debug, trace, silent',
  (raw) => (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw) ? raw : undefined),
  'info',
);

/** Express's `trust proxy`: which proxies' X-Forwarded-For to believe for the audit trail's remote address. */
const trustProxy = envVar(
  'a hop count, or a comma-separated list of addresses, CIDRs or loopback/linklocal/uniquelocal',
  (raw) => (/^\d+$/.test(raw.trim()) ? raw.trim() : /^[\w.:/,\s-]+$/.test(raw) ? raw : undefined),
  undefined,
);

/** Comma-separated origins (scheme://host[:port]) allowed to send state-changing requests besides the server's own. */
const origins = envVar<readonly string[]>(
  'a comma-separated list of origins such as https://console.example.com',
  (raw) => {
    const list = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    return list.length > 0 && list.every((origin) => /^https?:\/\/[^\s/?#]+$/i.test(origin)) ? list.map((o) => o.toLowerCase()) : undefined;
  },
  [],
);

const MiB = 1024 * 1024;
const seconds = (max: number, fallback: number) => integer(1, max, fallback);

const EnvCodec = t.type({
  PORT: integer(0, 65535, 8080),
  HOST: text('127.0.0.1'),
  DATA_DIR: text('./data'),
  AUTH_USERS: users,
  DATABASE_URL: url,
  S3_ENDPOINT: text(),
  S3_PORT: integer(1, 65535),
  S3_USE_SSL: bool(false),
  S3_ACCESS_KEY: text(),
  S3_SECRET_KEY: text(),
  S3_BUCKET: text('state-ledger'),
  S3_REGION: text('us-east-1'),
  MAX_STATE_BYTES: integer(1, Number.MAX_SAFE_INTEGER, 512 * MiB),
  LOG_LEVEL: logLevel,
  TRUST_PROXY: trustProxy,
  TMP_DIR: text(),
  ALLOWED_ORIGINS: origins,
  PG_POOL_MAX: integer(1, 1000, 20),
  PG_CONNECT_TIMEOUT_SECONDS: seconds(600, 5),
  PG_STATEMENT_TIMEOUT_SECONDS: seconds(86400, 30),
  S3_TIMEOUT_SECONDS: seconds(3600, 30),
  READY_TIMEOUT_SECONDS: seconds(600, 2),
  HEADERS_TIMEOUT_SECONDS: seconds(3600, 20),
  BODY_IDLE_TIMEOUT_SECONDS: seconds(3600, 30),
  REQUEST_TIMEOUT_SECONDS: seconds(3600, 60),
  UPLOAD_TIMEOUT_SECONDS: seconds(86400, 3600),
  IDLE_TIMEOUT_SECONDS: seconds(3600, 120),
  KEEP_ALIVE_TIMEOUT_SECONDS: seconds(3600, 5),
  MAX_CONNECTIONS: integer(1, 1_000_000, 1000),
  MAX_UPLOADS: integer(1, 10_000, 32),
  MAX_UPLOADS_PER_CLIENT: integer(1, 10_000, 8),
  LOGIN_FAILURES_PER_MINUTE: integer(1, 1_000_000, 10),
  SHUTDOWN_GRACE_SECONDS: seconds(3600, 25),
  OIDC_ISSUERS: text(),
  OIDC_ISSUERS_FILE: text(),
  TLS_CERT: text(),
  TLS_KEY: text(),
  TLS_CLIENT_CA: text(),
  LEDGER_SIGNING_KEY: text(),
  CHECKPOINT_INTERVAL: integer(0, 7 * 86400, 300),
  METRICS_PORT: integer(1, 65535),
  LOCK_TTL: text(),
  RETENTION: text(),
  RETENTION_INTERVAL: integer(0, 7 * 86400, 3600),
  GC_INTERVAL: integer(0, 7 * 86400, 86400),
  GC_GRACE: text(),
});

/** Where the server's certificate and key are, and the CA that client certificates must chain to (none: no client certificates). */
export interface TlsSettings {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string | undefined;
}

export interface S3Config {
  readonly endPoint: string;
  readonly port: number | undefined;
  readonly useSSL: boolean;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly region: string;
  /** An object-store request that makes no progress for this long fails. */
  readonly timeoutMs: number;
}

/** How long things may take, in milliseconds, and how many may happen at once. */
export interface TrafficLimits {
  readonly headersTimeoutMs: number;
  /** A body that sends no byte for this long is dropped. */
  readonly bodyIdleTimeoutMs: number;
  /** The whole request of a route that takes no state body must arrive within this. */
  readonly requestTimeoutMs: number;
  /** The whole request of a state push must arrive within this. */
  readonly uploadTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed (above the 60 s long poll). */
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxUploads: number;
  readonly maxUploadsPerClient: number;
  readonly loginFailuresPerMinute: number;
  readonly readyTimeoutMs: number;
  readonly shutdownGraceMs: number;
}

/** Signed checkpoints of every stream's head, written to the blob store (see README "Checkpoints"). */
export interface CheckpointSettings {
  /** The Ed25519 private key (PEM, PKCS8) that signs them, kept outside PostgreSQL. */
  readonly signingKey: {
    readonly file: string;
    /** Generate the file when it is missing: only where nobody named it, or in zero-setup mode. */
    readonly generate: boolean;
  };
  /** How often the server writes one; 0: never (`verify` still does). */
  readonly intervalMs: number;
}

/** Retention and garbage collection (see README "Retention"). */
export interface RetentionSettings {
  /** RETENTION: what each state keeps of its history; unset, everything. */
  readonly policy: Retention;
  /** How often the server prunes (RETENTION_INTERVAL) and sweeps the blob store (GC_INTERVAL); 0: never. */
  readonly pruneIntervalMs: number;
  readonly gcIntervalMs: number;
  /** GC_GRACE: a blob no event refers to is deleted only once it is older than this. */
  readonly gcGraceSeconds: number;
}

export interface PostgresSettings {
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** Unset: zero-setup mode generates an admin password in dataDir. */
  readonly users: Users | undefined;
  /** Unset: an embedded PostgreSQL under dataDir. */
  readonly databaseUrl: string | undefined;
  /** Unset: blobs on the file system under dataDir. */
  readonly s3: S3Config | undefined;
  readonly maxStateBytes: number;
  readonly logLevel: string;
  /** Unset: the socket's address is the client's. */
  readonly trustProxy: string | undefined;
  /** Where bodies wait while they are checked; default DATA_DIR/tmp. */
  readonly tmpDir: string;
  readonly allowedOrigins: readonly string[];
  readonly postgres: PostgresSettings;
  readonly s3TimeoutMs: number;
  readonly traffic: TrafficLimits;
  /** OIDC issuers whose JWTs are accepted: OIDC_ISSUERS as written, and the file OIDC_ISSUERS_FILE names (read at start). */
  readonly oidcIssuers: readonly OidcIssuer[];
  readonly oidcIssuersFile: string | undefined;
  /** Unset: plain HTTP. */
  readonly tls: TlsSettings | undefined;
  readonly checkpoints: CheckpointSettings;
  /** A second port serving GET /metrics without authentication (on HOST); unset: only the main port's /metrics, for administrators. */
  readonly metricsPort: number | undefined;
  /** LOCK_TTL: each state's lock lease in seconds (null: none); unset, no lock has one. */
  readonly lockLeases: GlobPolicy<number | null>;
  readonly retention: RetentionSettings;
}

/** A lease as LOCK_TTL writes it: a duration, or `off` for states that must keep locks until released. */
const leaseSetting = (raw: string): E.Either<string, number | null> => (raw === 'off' ? E.right(null) : parseDuration(raw));

const SECRET = ['AUTH_USERS', 'DATABASE_URL', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'];

/** Every duration setting has a default, so the codec never leaves one undefined. */
const ms = (secondsValue: number | undefined): number => (secondsValue ?? 0) * 1000;

/** Decodes the environment once; a Left carries one line per bad variable, naming it. */
export const loadConfig = (env: NodeJS.ProcessEnv): E.Either<string[], Config> => {
  const decoded = EnvCodec.decode(env);
  if (E.isLeft(decoded)) {
    return E.left(
      decoded.left.map((error) => {
        const name = error.context[1]?.key ?? '?';
        // Never echo a value that may hold a password into logs.
        const got = SECRET.includes(name) ? 'a value that is not' : `got ${JSON.stringify(error.value)}`;
        return `${name} must be ${error.message ?? 'valid'}, ${got}`;
      }),
    );
  }
  const v = decoded.right;
  const s3Missing = ['S3_ACCESS_KEY', 'S3_SECRET_KEY'].filter((name) => v.S3_ENDPOINT !== undefined && env[name] === undefined);
  if (s3Missing.length > 0) return E.left(s3Missing.map((name) => `${name} must be set when S3_ENDPOINT is set`));
  if ((v.TLS_CERT === undefined) !== (v.TLS_KEY === undefined)) return E.left(['TLS_CERT and TLS_KEY must be set together (the certificate and its private key, PEM files)']);
  if (v.TLS_CLIENT_CA !== undefined && v.TLS_CERT === undefined) return E.left(['TLS_CLIENT_CA needs TLS_CERT and TLS_KEY: client certificates are checked only over HTTPS']);
  if (v.METRICS_PORT !== undefined && v.METRICS_PORT === (v.PORT ?? 8080)) {
    return E.left([`METRICS_PORT must differ from PORT (${v.METRICS_PORT}): it serves the metrics without authentication, apart from the API`]);
  }
  const issuers = v.OIDC_ISSUERS === undefined ? E.right([]) : decodeOidcIssuers(v.OIDC_ISSUERS);
  if (E.isLeft(issuers)) return E.left([`OIDC_ISSUERS: ${issuers.left}`]);
  const leases = v.LOCK_TTL === undefined ? E.right(noPolicy) : parseGlobPolicy(v.LOCK_TTL, leaseSetting);
  if (E.isLeft(leases)) return E.left([`LOCK_TTL must be a duration (2h), or GLOB=DURATION entries with an optional default, comma-separated (2h,team-a/**=30m,prod/*=off): ${leases.left}`]);
  const retention = v.RETENTION === undefined ? E.right(noPolicy) : parseRetention(v.RETENTION);
  if (E.isLeft(retention)) {
    return E.left([`RETENTION must be off, a count (10), an age (90d) or both (50+90d), or GLOB=VALUE entries with an optional default, comma-separated (50+90d,prod/**=off,team-a/*=10): ${retention.left}`]);
  }
  const grace = v.GC_GRACE === undefined ? E.right(86400) : parseDuration(v.GC_GRACE);
  if (E.isLeft(grace)) return E.left([`GC_GRACE must be a duration: ${grace.left}`]);
  return E.right({
    port: v.PORT ?? 8080,
    host: v.HOST ?? '127.0.0.1',
    dataDir: v.DATA_DIR ?? './data',
    users: v.AUTH_USERS,
    databaseUrl: v.DATABASE_URL,
    s3:
      v.S3_ENDPOINT === undefined
        ? undefined
        : {
            endPoint: v.S3_ENDPOINT,
            port: v.S3_PORT,
            useSSL: v.S3_USE_SSL ?? false,
            accessKey: v.S3_ACCESS_KEY ?? '',
            secretKey: v.S3_SECRET_KEY ?? '',
            bucket: v.S3_BUCKET ?? 'state-ledger',
            region: v.S3_REGION ?? 'us-east-1',
            timeoutMs: ms(v.S3_TIMEOUT_SECONDS),
          },
    maxStateBytes: v.MAX_STATE_BYTES ?? 512 * MiB,
    logLevel: v.LOG_LEVEL ?? 'info',
    trustProxy: v.TRUST_PROXY,
    tmpDir: v.TMP_DIR ?? path.join(v.DATA_DIR ?? './data', 'tmp'),
    allowedOrigins: v.ALLOWED_ORIGINS ?? [],
    postgres: {
      poolMax: v.PG_POOL_MAX ?? 20,
      connectTimeoutMs: ms(v.PG_CONNECT_TIMEOUT_SECONDS),
      statementTimeoutMs: ms(v.PG_STATEMENT_TIMEOUT_SECONDS),
    },
    s3TimeoutMs: ms(v.S3_TIMEOUT_SECONDS),
    traffic: {
      headersTimeoutMs: ms(v.HEADERS_TIMEOUT_SECONDS),
      bodyIdleTimeoutMs: ms(v.BODY_IDLE_TIMEOUT_SECONDS),
      requestTimeoutMs: ms(v.REQUEST_TIMEOUT_SECONDS),
      uploadTimeoutMs: ms(v.UPLOAD_TIMEOUT_SECONDS),
      idleTimeoutMs: ms(v.IDLE_TIMEOUT_SECONDS),
      keepAliveTimeoutMs: ms(v.KEEP_ALIVE_TIMEOUT_SECONDS),
      maxConnections: v.MAX_CONNECTIONS ?? 1000,
      maxUploads: v.MAX_UPLOADS ?? 32,
      maxUploadsPerClient: v.MAX_UPLOADS_PER_CLIENT ?? 8,
      loginFailuresPerMinute: v.LOGIN_FAILURES_PER_MINUTE ?? 10,
      readyTimeoutMs: ms(v.READY_TIMEOUT_SECONDS),
      shutdownGraceMs: ms(v.SHUTDOWN_GRACE_SECONDS),
    },
    oidcIssuers: issuers.right,
    oidcIssuersFile: v.OIDC_ISSUERS_FILE,
    tls: v.TLS_CERT === undefined || v.TLS_KEY === undefined ? undefined : { certFile: v.TLS_CERT, keyFile: v.TLS_KEY, clientCaFile: v.TLS_CLIENT_CA },
    checkpoints: {
      signingKey: {
        file: v.LEDGER_SIGNING_KEY ?? path.join(v.DATA_DIR ?? './data', 'ledger-signing-key.pem'),
        // A key named in production and missing is a lost mount, not a first start: never replace it silently.
        generate: v.LEDGER_SIGNING_KEY === undefined || v.DATABASE_URL === undefined,
      },
      intervalMs: ms(v.CHECKPOINT_INTERVAL),
    },
    metricsPort: v.METRICS_PORT,
    lockLeases: leases.right,
    retention: {
      policy: retention.right,
      pruneIntervalMs: ms(v.RETENTION_INTERVAL),
      gcIntervalMs: ms(v.GC_INTERVAL),
      gcGraceSeconds: grace.right,
    },
  });
};

/** The settings with every variable unset: what tests and embedders start from. */
export const defaultConfig = (): Config => {
  const config = loadConfig({});
  if (E.isLeft(config)) throw new Error(`the defaults do not decode: ${config.left.join('; ')}`);
  return config.right;
};
