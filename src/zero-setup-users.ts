import fs from 'node:fs/promises';
import path from 'node:path';
import type { AccessManager } from './application/manage-access.js';
import type { CommandMetadata } from './commands/commands.js';
import type { Config } from './config.js';

export const ADMIN = 'admin';

/** How the banner names the way in. */
export type FirstAdministrator =
  | { readonly kind: 'development-users'; readonly names: readonly string[] }
  /** Made now: its password is printed this once. */
  | { readonly kind: 'created'; readonly password: string }
  /** Made from the plain-text DATA_DIR/admin-password of an older release, which is then deleted. */
  | { readonly kind: 'imported'; readonly file: string }
  | { readonly kind: 'existing' };

const systemMetadata = (): CommandMetadata => ({ actor: 'system', remoteAddress: null, userAgent: 'state-ledger serve', requestId: 'first-start', now: new Date() });

/**
 * Without AUTH_USERS, a fresh ledger gets user `admin` (admin on every state) with a generated
 * password, stored hashed like any other. Several processes starting at once on one database
 * make exactly one: the access stream's compare-and-set decides.
 */
export const ensureFirstAdministrator = async (config: Config, access: AccessManager): Promise<FirstAdministrator> => {
  if (config.users !== undefined) return { kind: 'development-users', names: [...config.users.keys()] };
  const legacyFile = path.resolve(config.dataDir, 'admin-password');
  const legacy = (await fs.readFile(legacyFile, 'utf8').catch(() => '')).trim();
  const created = await access.bootstrap(ADMIN, systemMetadata(), legacy === '' ? undefined : legacy);
  if (legacy !== '') await fs.rm(legacyFile, { force: true });
  if (created === undefined) return { kind: 'existing' };
  return legacy === '' ? { kind: 'created', password: created } : { kind: 'imported', file: legacyFile };
};
