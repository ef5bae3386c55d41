import * as E from 'fp-ts/lib/Either.js';
import { parseInstant } from '../instant.js';
import { described } from './described.js';
import { LATEST } from './expiry.js';
import { ACCOUNT_NAME, GLOB, isRole, parseSubject, RESERVED_NAMES, type Grant } from './roles.js';

/**
 * The document `access apply` makes true, as a team keeps it in git:
 *
 *   users: [alice, bob]
 *   tokens:
 *     - name: ci-deploy
 *       expires: 2027-06-30T00:00:00Z
 *   grants:
 *     - { role: write, subject: token:ci-deploy, glob: "prod-*" }
 *
 * Already parsed (YAML or JSON); checked here field by field, each error one sentence.
 */

/** The file as a team writes it: tokens by name (each gets a fresh secret when it is created). */
export interface DesiredAccessFile {
  readonly users: readonly string[];
  readonly tokens: ReadonlyArray<{ readonly name: string; readonly expiresAt: string | null }>;
  readonly grants: readonly Grant[];
}

const MAX_ENTRIES = 10_000;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Only the keys named: a misspelt field (`expire`) must not be silently dropped. */
const unknownField = (entry: Record<string, unknown>, keys: readonly string[]): string | undefined => {
  const extra = Object.keys(entry).find((key) => !keys.includes(key));
  return extra === undefined ? undefined : `unknown field ${described(extra)}; expected ${keys.join(', ')}`;
};

const list = (document: Record<string, unknown>, key: string): E.Either<string, unknown[]> => {
  const value = document[key];
  if (value === undefined || value === null) return E.right([]);
  if (!Array.isArray(value)) return E.left(`${key} must be a list`);
  if (value.length > MAX_ENTRIES) return E.left(`${key} holds more than ${MAX_ENTRIES} entries`);
  return E.right(value);
};

export const accountNameError = (kind: 'user' | 'token', name: unknown): string | undefined =>
  typeof name !== 'string' || !ACCOUNT_NAME.test(name)
    ? `${kind} names are letters, digits, ".", "_", "@" or "-", starting with a letter or digit, at most 64 characters; got ${described(name)}`
    : kind === 'user' && RESERVED_NAMES.includes(name)
      ? `"${name}" is reserved (it is the Basic user name that carries a ${name === 'token' ? 'token' : 'JWT'}); choose another user name`
      : undefined;

/** role, subject and glob of a grant, checked; undefined when all is well. */
export const grantError = (grant: { role: unknown; subject: unknown; glob: unknown }): string | undefined => {
  if (typeof grant.role !== 'string' || !isRole(grant.role)) return `role must be outputs, read, write or admin; got ${described(grant.role)}`;
  if (typeof grant.subject !== 'string') return `subject must be user:NAME, token:NAME or oidc:ISSUER[:claim=value,...]; got ${described(grant.subject)}`;
  const subject = parseSubject(grant.subject);
  if (E.isLeft(subject)) return subject.left;
  if (typeof grant.glob !== 'string' || !GLOB.test(grant.glob)) {
    return 'glob must be a state name pattern: letters, digits, ".", "_", "-", "/" and "*" (any run of characters), at most 256 characters';
  }
  return undefined;
};

const decodeTokens = (entries: unknown[]): E.Either<string, DesiredAccessFile['tokens']> => {
  const tokens: Array<{ name: string; expiresAt: string | null }> = [];
  for (const [i, entry] of entries.entries()) {
    const token = typeof entry === 'string' ? { name: entry } : entry;
    if (!isObject(token)) return E.left(`tokens[${i}] must be a name or {name, expires}`);
    const nameError = unknownField(token, ['name', 'expires']) ?? accountNameError('token', token.name);
    if (nameError !== undefined) return E.left(`tokens[${i}]: ${nameError}`);
    // YAML reads an unquoted timestamp as a Date; JSON and quoted YAML give text, read strictly.
    const expires =
      token.expires instanceof Date ? token.expires : token.expires === undefined || token.expires === null ? null : typeof token.expires === 'string' ? parseInstant(token.expires) : undefined;
    if (expires === undefined || (expires !== null && (Number.isNaN(expires.getTime()) || expires.getTime() >= LATEST))) {
      return E.left(`tokens[${i}].expires must be an RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000; got ${described(token.expires)}`);
    }
    tokens.push({ name: token.name as string, expiresAt: expires?.toISOString() ?? null });
  }
  return E.right(tokens);
};

const duplicate = (names: readonly string[]): string | undefined => names.find((name, i) => names.indexOf(name) !== i);

export const decodeAccessFile = (document: unknown): E.Either<string, DesiredAccessFile> => {
  if (!isObject(document)) return E.left('the access file must be a mapping with users, tokens and grants');
  const unknownKey = Object.keys(document).find((key) => !['users', 'tokens', 'grants'].includes(key));
  if (unknownKey !== undefined) return E.left(`unknown key ${described(unknownKey)}: the file holds users, tokens and grants`);
  const users = list(document, 'users');
  const tokenEntries = list(document, 'tokens');
  const grantEntries = list(document, 'grants');
  if (E.isLeft(users)) return users;
  if (E.isLeft(tokenEntries)) return tokenEntries;
  if (E.isLeft(grantEntries)) return grantEntries;
  for (const [i, name] of users.right.entries()) {
    const error = accountNameError('user', name);
    if (error !== undefined) return E.left(`users[${i}]: ${error}`);
  }
  const tokens = decodeTokens(tokenEntries.right);
  if (E.isLeft(tokens)) return tokens;
  const grants: Grant[] = [];
  for (const [i, entry] of grantEntries.right.entries()) {
    if (!isObject(entry)) return E.left(`grants[${i}] must be {role, subject, glob}`);
    const error = unknownField(entry, ['role', 'subject', 'glob']) ?? grantError({ role: entry.role, subject: entry.subject, glob: entry.glob });
    if (error !== undefined) return E.left(`grants[${i}]: ${error}`);
    grants.push({ role: entry.role, subject: entry.subject, glob: entry.glob } as Grant);
  }
  const userNames = users.right as string[];
  const repeated = duplicate(userNames) ?? duplicate(tokens.right.map((token) => token.name));
  if (repeated !== undefined) return E.left(`${repeated} is listed twice`);
  return E.right({
    users: userNames,
    tokens: tokens.right,
    grants: grants.filter((grant, i) => grants.findIndex((other) => other.role === grant.role && other.subject === grant.subject && other.glob === grant.glob) === i),
  });
};
