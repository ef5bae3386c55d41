import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { grantsFor, managesAccess, type Grant } from '../access/roles.js';
import { oidcGrants, tokenBySecret, touchToken, userCredentials } from '../projections/access-queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { OidcVerifier } from './oidc.js';
import { isJwtShaped } from './oidc.js';
import type { PasswordHash } from '../events/access-events.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { shortMemo } from './short-memo.js';
import { looksLikeToken, secretSha256 } from './tokens.js';
import { findSession, looksLikeSession, onCurrentPassword, sessionSha256 } from './sessions.js';
import { concurrencyLimit } from '../concurrency-limit.js';

/** The caller, once its credentials check out: the actor every event records, and its grants. */
export interface Principal {
  readonly actor: string;
  /** For OIDC: the claims that identify the run, kept in each event's metadata. */
  readonly claims?: Readonly<Record<string, string>>;
  readonly grants: ReadonlyArray<Pick<Grant, 'role' | 'glob'>>;
  /** For a user who gave a stored password: the salt of the hash it matched, which a console session opened with it keeps. */
  readonly passwordSalt?: string;
}

export const mayManageAccess = (principal: Principal): boolean => managesAccess(principal.grants);

/** What a request presented, read from its headers and its TLS session at the edge. */
export type Credentials =
  | { readonly kind: 'basic'; readonly name: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly secret: string }
  | { readonly kind: 'certificate'; readonly name: string }
  /** A web console session's cookie. */
  | { readonly kind: 'session'; readonly secret: string }
  | { readonly kind: 'none' };

/** rejected: the credentials are wrong (401, counted as a failed login); unavailable: the check could not be made (503). */
export type AuthFailure =
  | { readonly kind: 'missing' }
  /** Too many failed sign-ins: refused before the password was checked. */
  | { readonly kind: 'throttled' }
  | { readonly kind: 'rejected'; readonly reason: string; readonly name?: string }
  /** A console session that ended (expired, signed out, or its user or token gone): no failed sign-in. */
  | { readonly kind: 'ended'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Claims worth keeping in the audit trail: the ones GitLab CI and GitHub Actions use to say which run it was. */
const IDENTIFYING_CLAIMS = [
  'sub', 'project_path', 'namespace_path', 'ref', 'ref_type', 'ref_protected', 'pipeline_id', 'job_id', 'user_login', 'environment',
  'repository', 'repository_owner', 'workflow', 'run_id', 'run_attempt', 'actor', 'job_workflow_ref',
];

/** Scalar claims as text (grants compare text), each bounded. */
const textClaims = (claims: Readonly<Record<string, unknown>>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(claims)
      .filter(([, value]) => ['string', 'number', 'boolean'].includes(typeof value))
      .map(([name, value]) => [name, String(value).slice(0, 256)]),
  );

const REJECTED = 'the user name or password is wrong';

export interface AuthenticatorOptions {
  readonly sql: SqlExecutor;
  /** AUTH_USERS: plain-text development users, administrators of everything. */
  readonly devUsers: ReadonlyMap<string, string>;
  readonly oidc: OidcVerifier | undefined;
  /** How often a token's last-used time is written at most (per process). */
  readonly touchIntervalMs?: number;
  /** How long a process trusts what it read of users, tokens and grants (a change made here applies at once). */
  readonly accessCacheMs?: number;
  readonly onBackgroundError?: (error: unknown) => void;
}

/** Revocations, removals and new passwords reach other processes within this; the one that made them at once. */
export const ACCESS_CACHE_MS = 1000;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** scrypt checks running at once per process (each holds a libuv pool thread and 32 MiB), and waiting beyond them. */
const PASSWORD_CHECKS = 2;
const PASSWORD_CHECKS_WAITING = 64;

/**
 * Runs password checks a few at a time: a flood of sign-ins (sent in parallel, before any is
 * counted as failed) must not take every thread of libuv's pool, which file reads need too.
 * Beyond the queue, undefined: the caller answers 503.
 */
const checkQueue = () => {
  const limit = concurrencyLimit(PASSWORD_CHECKS);
  return async <A>(work: () => Promise<A>): Promise<A | undefined> =>
    limit.full() && limit.waiting() >= PASSWORD_CHECKS_WAITING ? undefined : limit.run(work);
};

const BUSY: AuthFailure = { kind: 'unavailable', reason: 'the server is checking too many passwords at once; retry shortly' };

/**
 * Checks credentials against the identities in PostgreSQL and answers the caller's grants. What
 * it read is trusted for ACCESS_CACHE_MS: a change made through this process applies on its next
 * request, one made through another within that time. A password is checked with scrypt once; a
 * success is remembered for the stored hash it matched, so a new password, or a removed user,
 * is never served from memory.
 */
export const authenticator = ({ sql, devUsers, oidc, touchIntervalMs = 60_000, accessCacheMs = ACCESS_CACHE_MS, onBackgroundError = () => undefined }: AuthenticatorOptions) => {
  const users = shortMemo<Awaited<ReturnType<typeof userCredentials>>>(accessCacheMs);
  const tokens = shortMemo<Awaited<ReturnType<typeof tokenBySecret>>>(accessCacheMs);
  const oidcSubjects = shortMemo<Grant[]>(accessCacheMs);
  const sessions = shortMemo<Awaited<ReturnType<typeof findSession>>>(accessCacheMs);
  const cacheKey = randomBytes(32);
  const verified = new Map<string, number>();
  const touched = new Map<string, number>();
  const CACHE_MS = 5 * 60_000;
  const decoy = hashPassword(randomBytes(16).toString('hex'));

  const queued = checkQueue();

  /**
   * true or false; 'busy' when the server has too many passwords to check to take this one, and
   * 'throttled' when `mayCheck` (asked once its turn has come) says the caller failed too often.
   */
  const passwordMatches = async (name: string, password: string, stored: PasswordHash, mayCheck: () => Promise<boolean>): Promise<boolean | 'busy' | 'throttled'> => {
    const key = createHash('sha256').update(cacheKey).update(JSON.stringify([name, stored.hash, password])).digest('base64');
    const remembered = () => (verified.get(key) ?? 0) > Date.now();
    if (remembered()) return true;
    // Asked again once its turn has come: a burst of the same sign-in needs one scrypt, not one each.
    const matches = await queued(async () => (remembered() ? true : (await mayCheck()) ? verifyPassword(password, stored) : ('throttled' as const)));
    if (matches === undefined) return 'busy';
    if (matches !== true) return matches;
    if (verified.size >= 10_000) verified.clear();
    verified.set(key, Date.now() + CACHE_MS);
    return true;
  };

  const user = async (name: string, password: string, mayCheck: () => Promise<boolean>): Promise<E.Either<AuthFailure, Principal>> => {
    const dev = devUsers.get(name);
    if (dev !== undefined) {
      return timingSafeEqual(digest(dev), digest(password)) ? E.right({ actor: `user:${name}`, grants: [{ role: 'admin', glob: '*' }] }) : E.left({ kind: 'rejected', reason: REJECTED, name });
    }
    const found = await users.get(name, () => userCredentials(sql, name));
    // A user without a password is checked against a decoy: as slow as a wrong password, so that
    // the answer's time does not tell which user names exist.
    const matches = await passwordMatches(name, password, found?.password ?? (await decoy), mayCheck);
    if (matches === 'busy') return E.left(BUSY);
    if (matches === 'throttled') return E.left({ kind: 'throttled' });
    if (found === undefined || found.password === null || !matches) return E.left({ kind: 'rejected', reason: REJECTED, name });
    return E.right({ actor: `user:${name}`, grants: found.grants, passwordSalt: found.password.salt });
  };

  const token = async (secret: string): Promise<E.Either<AuthFailure, Principal>> => {
    if (!looksLikeToken(secret)) return E.left({ kind: 'rejected', reason: 'that is not a state-ledger token' });
    const hash = secretSha256(secret);
    const found = await tokens.get(hash, () => tokenBySecret(sql, hash));
    if (found === undefined) return E.left({ kind: 'rejected', reason: 'the token is unknown or was revoked' });
    if ('expired' in found) return E.left({ kind: 'rejected', reason: `the token expired at ${found.expired.toISOString()}` });
    if (Date.now() - (touched.get(hash) ?? 0) > touchIntervalMs) {
      touched.set(hash, Date.now());
      touchToken(sql, hash).catch(onBackgroundError);
    }
    return E.right({ actor: `token:${found.name}`, grants: found.grants });
  };

  /**
   * A console session acts for its user or token with their grants of now: it never outlives the
   * access it was opened with, nor the user's password.
   */
  const session = async (secret: string): Promise<E.Either<AuthFailure, Principal>> => {
    const again = 'sign in again';
    if (!looksLikeSession(secret)) return E.left({ kind: 'ended', reason: `the console session cookie is not one this server makes; ${again}` });
    const hash = sessionSha256(secret);
    const found = await sessions.get(hash, () => findSession(sql, hash));
    if (found === undefined) return E.left({ kind: 'ended', reason: `the console session expired or was signed out; ${again}` });
    if (found.kind === 'token') {
      const live = await tokens.get(found.subject, () => tokenBySecret(sql, found.subject));
      if (live === undefined || 'expired' in live) return E.left({ kind: 'ended', reason: `the API token of this console session was revoked or expired; ${again}` });
      return E.right({ actor: `token:${live.name}`, grants: live.grants });
    }
    if (devUsers.has(found.subject)) return E.right({ actor: `user:${found.subject}`, grants: [{ role: 'admin', glob: '*' }] });
    const user_ = await users.get(found.subject, () => userCredentials(sql, found.subject));
    if (user_ === undefined || user_.password === null) return E.left({ kind: 'ended', reason: `user ${found.subject} was removed or can no longer sign in; ${again}` });
    // Either read may be a second old here: a mismatch is confirmed from the database, so that the
    // session a password was just changed through is not refused for what another process remembers.
    if (found.passwordSalt !== user_.password.salt && !(await onCurrentPassword(sql, hash))) {
      return E.left({ kind: 'ended', reason: `the password of user ${found.subject} was changed; ${again}` });
    }
    return E.right({ actor: `user:${found.subject}`, grants: user_.grants });
  };

  const jwt = async (text: string): Promise<E.Either<AuthFailure, Principal>> => {
    if (oidc === undefined) return E.left({ kind: 'rejected', reason: 'this server accepts no OIDC tokens (no OIDC_ISSUERS configured)' });
    const outcome = await oidc.verify(text);
    if (E.isLeft(outcome)) {
      const refusal = outcome.left;
      return E.left(refusal.kind === 'unavailable' ? { kind: 'unavailable', reason: refusal.reason } : { kind: 'rejected', reason: refusal.reason });
    }
    const { issuer, name, claims } = outcome.right;
    const text_ = textClaims(claims);
    const grants = grantsFor(await oidcSubjects.get('', () => oidcGrants(sql)), { kind: 'oidc', issuers: [issuer, name], claims: text_ });
    const identifying = Object.fromEntries(IDENTIFYING_CLAIMS.flatMap((claim) => (text_[claim] === undefined ? [] : [[claim, text_[claim]]])));
    return E.right({ actor: `oidc:${issuer}`, claims: identifying, grants });
  };

  const certificate = async (name: string): Promise<E.Either<AuthFailure, Principal>> => {
    if (devUsers.has(name)) return E.right({ actor: `cert:${name}`, grants: [{ role: 'admin', glob: '*' }] });
    const found = await users.get(name, () => userCredentials(sql, name));
    if (found === undefined) return E.left({ kind: 'rejected', reason: `the client certificate names ${name}, who is not a user here`, name });
    return E.right({ actor: `cert:${name}`, grants: found.grants });
  };

  return {
    /** Forgets what was read of access: called when this process changed it. */
    accessChanged: (): void => {
      users.clear();
      tokens.clear();
      oidcSubjects.clear();
      sessions.clear();
    },
    /** mayCheck: asked right before a password is checked (not for cached ones); false refuses it as throttled. */
    authenticate: async (credentials: Credentials, mayCheck: () => Promise<boolean> = async () => true): Promise<E.Either<AuthFailure, Principal>> => {
      switch (credentials.kind) {
        case 'none':
          return E.left({ kind: 'missing' });
        case 'certificate':
          return certificate(credentials.name);
        case 'session':
          return session(credentials.secret);
        case 'bearer':
          return isJwtShaped(credentials.secret) ? jwt(credentials.secret) : token(credentials.secret);
        case 'basic':
          // Terraform has no header option: a token or a JWT travels as the password of a reserved user name.
          if (credentials.name === 'token') return token(credentials.password);
          if (credentials.name === 'oidc') return jwt(credentials.password);
          return user(credentials.name, credentials.password, mayCheck);
      }
    },
  };
};

export type Authenticator = ReturnType<typeof authenticator>;
