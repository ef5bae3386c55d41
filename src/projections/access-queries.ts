import type { Grant, Role } from '../access/roles.js';
import type { PasswordHash } from '../events/access-events.js';
import type { SqlExecutor } from '../storage/sql.js';

type RoleAndGlob = Pick<Grant, 'role' | 'glob'>;

/** A user's password hash and the grants given to `user:NAME`, in one round trip. */
export const userCredentials = async (sql: SqlExecutor, name: string): Promise<{ password: PasswordHash | null; grants: RoleAndGlob[] } | undefined> => {
  const { rows } = await sql.query<{ password: PasswordHash | null; grants: RoleAndGlob[] }>(
    `SELECT u.password, coalesce((SELECT json_agg(json_build_object('role', g.role, 'glob', g.glob))
                                  FROM access_grants g WHERE g.subject = 'user:' || u.name), '[]') AS grants
     FROM access_users u WHERE u.name = $1`,
    [name],
  );
  return rows[0];
};

/** The live token with this secret hash (unexpired at the database's clock), with its grants. */
export const tokenBySecret = async (sql: SqlExecutor, secretSha256: string): Promise<{ name: string; grants: RoleAndGlob[] } | { expired: Date } | undefined> => {
  const { rows } = await sql.query<{ name: string; expires_at: Date | null; expired: boolean; grants: RoleAndGlob[] }>(
    `SELECT t.name, t.expires_at, t.expires_at IS NOT NULL AND t.expires_at <= now() AS expired,
            coalesce((SELECT json_agg(json_build_object('role', g.role, 'glob', g.glob))
                      FROM access_grants g WHERE g.subject = 'token:' || t.name), '[]') AS grants
     FROM access_tokens t WHERE t.secret_sha256 = $1`,
    [secretSha256],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return row.expired && row.expires_at !== null ? { expired: row.expires_at } : { name: row.name, grants: row.grants };
};

/** Records that a token was used (the caller throttles how often). */
export const touchToken = async (sql: SqlExecutor, secretSha256: string): Promise<void> => {
  await sql.query(
    `INSERT INTO access_token_usage (secret_sha256, last_used_at) VALUES ($1, now())
     ON CONFLICT (secret_sha256) DO UPDATE SET last_used_at = EXCLUDED.last_used_at`,
    [secretSha256],
  );
};

/** Every grant to an OIDC subject: they are matched against a token's claims in code. */
export const oidcGrants = async (sql: SqlExecutor): Promise<Grant[]> =>
  (await sql.query<Grant & Record<string, unknown>>(`SELECT role, subject, glob FROM access_grants WHERE subject LIKE 'oidc:%'`)).rows;

export interface UserListing {
  readonly name: string;
  readonly has_password: boolean;
  readonly updated_at: Date;
  readonly updated_by: string;
}

export const listUsers = async (sql: SqlExecutor): Promise<UserListing[]> =>
  (
    await sql.query<UserListing & Record<string, unknown>>(
      'SELECT name, password IS NOT NULL AS has_password, updated_at, updated_by FROM access_users ORDER BY name',
    )
  ).rows;

export interface TokenListing {
  readonly name: string;
  readonly created_at: Date;
  readonly created_by: string;
  readonly expires_at: Date | null;
  readonly last_used_at: Date | null;
}

export const listTokens = async (sql: SqlExecutor): Promise<TokenListing[]> =>
  (
    await sql.query<TokenListing & Record<string, unknown>>(
      `SELECT t.name, t.created_at, t.created_by, t.expires_at, u.last_used_at
       FROM access_tokens t LEFT JOIN access_token_usage u ON u.secret_sha256 = t.secret_sha256 ORDER BY t.name`,
    )
  ).rows;

export interface GrantListing extends Grant {
  readonly role: Role;
  readonly granted_at: Date;
  readonly granted_by: string;
}

export const listGrants = async (sql: SqlExecutor): Promise<GrantListing[]> =>
  (
    await sql.query<GrantListing & Record<string, unknown>>(
      'SELECT role, subject, glob, granted_at, granted_by FROM access_grants ORDER BY subject, glob, role',
    )
  ).rows;
