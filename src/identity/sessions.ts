import { createHash, randomBytes } from 'node:crypto';
import type { SqlExecutor } from '../storage/sql.js';

/** The cookie that carries a console session's secret. */
export const SESSION_COOKIE = 'state_ledger_session';
/** How long a console session lasts from sign-in, whatever happens in it. */
export const SESSION_HOURS = 12;

/**
 * Who a session acts for: a user by name, with the salt of the password hash its sign-in matched
 * (null for AUTH_USERS users, who have none), or an API token by its secret's SHA-256.
 */
export type SessionSubject =
  | { readonly kind: 'user'; readonly subject: string; readonly passwordSalt: string | null }
  | { readonly kind: 'token'; readonly subject: string };

/** Session secrets start with this, so that they are told apart from API tokens in logs and headers. */
const SESSION_PREFIX = 'sls_';

export const looksLikeSession = (text: string): boolean => /^sls_[A-Za-z0-9_-]{43}$/.test(text);

/** What is stored of a secret: 256 random bits need no slow hash. */
export const sessionSha256 = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Opens a session (and drops expired ones); answers its secret, for the cookie, and when it ends. */
export const openSession = async (
  sql: SqlExecutor,
  subject: SessionSubject,
  origin: { readonly remoteAddress: string | null; readonly userAgent: string | null },
): Promise<{ secret: string; expiresAt: Date }> => {
  const secret = `${SESSION_PREFIX}${randomBytes(32).toString('base64url')}`;
  await sql.query('DELETE FROM console_sessions WHERE expires_at <= now()');
  const { rows } = await sql.query<{ expires_at: Date }>(
    `INSERT INTO console_sessions (secret_sha256, subject_kind, subject, password_salt, expires_at, remote_address, user_agent)
     VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5), $6, $7) RETURNING expires_at`,
    [
      sessionSha256(secret),
      subject.kind,
      subject.subject,
      subject.kind === 'user' ? subject.passwordSalt : null,
      SESSION_HOURS,
      origin.remoteAddress,
      origin.userAgent?.slice(0, 512) ?? null,
    ],
  );
  return { secret, expiresAt: rows[0]!.expires_at };
};

/** The live session with this secret hash (unexpired at the database's clock). */
export const findSession = async (sql: SqlExecutor, secretSha256: string): Promise<(SessionSubject & { expiresAt: Date }) | undefined> => {
  const { rows } = await sql.query<{ subject_kind: 'user' | 'token'; subject: string; password_salt: string | null; expires_at: Date }>(
    'SELECT subject_kind, subject, password_salt, expires_at FROM console_sessions WHERE secret_sha256 = $1 AND expires_at > now()',
    [secretSha256],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return row.subject_kind === 'user'
    ? { kind: 'user', subject: row.subject, passwordSalt: row.password_salt, expiresAt: row.expires_at }
    : { kind: 'token', subject: row.subject, expiresAt: row.expires_at };
};

/**
 * Whether a user's session was opened with (or moved to) the user's current password, read now:
 * confirms a mismatch seen in a process's cache, where the session or the user may be a second old.
 */
export const onCurrentPassword = async (sql: SqlExecutor, secretSha256: string): Promise<boolean> => {
  const { rows } = await sql.query(
    `SELECT 1 FROM console_sessions s JOIN access_users u ON u.name = s.subject
     WHERE s.secret_sha256 = $1 AND s.subject_kind = 'user' AND s.expires_at > now() AND s.password_salt = u.password->>'salt'`,
    [secretSha256],
  );
  return rows.length > 0;
};

/** Keeps user `name`'s session open through that user's password change, on the new password's salt. */
export const keepSession = async (sql: SqlExecutor, secretSha256: string, name: string, passwordSalt: string): Promise<void> => {
  await sql.query("UPDATE console_sessions SET password_salt = $3 WHERE secret_sha256 = $1 AND subject_kind = 'user' AND subject = $2", [secretSha256, name, passwordSalt]);
};

/** Ends a session at once, for every process (each trusts what it read of sessions for at most a second). */
export const endSession = async (sql: SqlExecutor, secretSha256: string): Promise<void> => {
  await sql.query('DELETE FROM console_sessions WHERE secret_sha256 = $1', [secretSha256]);
};
