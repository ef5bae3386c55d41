import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config, Users } from './config.js';

export const ADMIN = 'admin';

export interface ResolvedUsers {
  readonly users: Users;
  /** Set only on the start that created the password, so it is printed exactly once. */
  readonly newAdminPassword: string | undefined;
  readonly passwordFile: string | undefined;
}

/** AUTH_USERS when given; otherwise user `admin` with a password made once and kept in DATA_DIR. */
export const resolveUsers = async (config: Config): Promise<ResolvedUsers> => {
  if (config.users !== undefined) return { users: config.users, newAdminPassword: undefined, passwordFile: undefined };
  const passwordFile = path.resolve(config.dataDir, 'admin-password');
  await fs.mkdir(config.dataDir, { recursive: true });
  const existing = await fs.readFile(passwordFile, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing.trim() !== '') {
    return { users: new Map([[ADMIN, existing.trim()]]), newAdminPassword: undefined, passwordFile };
  }
  const password = randomBytes(18).toString('base64url');
  await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  return { users: new Map([[ADMIN, password]]), newAdminPassword: password, passwordFile };
};
