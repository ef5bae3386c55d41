import * as E from 'fp-ts/lib/Either.js';
import { described } from './described.js';

/**
 * Roles, ordered: each may do everything the ones before it may.
 * outputs: a state's outputs only; read: everything that reads; write: also lock, unlock its own
 * lock, push; admin: also force-unlock, delete, roll back (and, on `*`, manage access).
 */
export const ROLES = ['outputs', 'read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (text: string): text is Role => (ROLES as readonly string[]).includes(text);

export const atLeast = (has: Role | undefined, needed: Role): boolean =>
  has !== undefined && ROLES.indexOf(has) >= ROLES.indexOf(needed);

const higher = (a: Role | undefined, b: Role): Role => (a === undefined || ROLES.indexOf(b) > ROLES.indexOf(a) ? b : a);

/** A role on the states whose names match a glob, given to a subject. */
export interface Grant {
  readonly role: Role;
  readonly subject: string;
  readonly glob: string;
}

export const sameGrant = (a: Grant, b: Grant): boolean => a.role === b.role && a.subject === b.subject && a.glob === b.glob;

/** Names of users and tokens: what a log line, a subject and a file name can carry unquoted. */
export const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** Basic-auth user names that announce a token or a JWT in the password, never a user. */
export const RESERVED_NAMES = ['token', 'oidc'];

/**
 * State-name characters plus `*` (any run of characters within one `/`-separated segment) and
 * `**` as a whole segment (any number of segments). `*` alone means every state.
 */
export const GLOB = /^[A-Za-z0-9._/*-]{1,256}$/;

/**
 * The classic two-pointer wildcard match with one backtrack point, over any items: `wild` matches
 * any run of items, `same` one item. Linear in practice, quadratic at worst, never exponential.
 */
const wildcardMatch = <T>(pattern: readonly T[], items: readonly T[], isWild: (p: T) => boolean, same: (p: T, item: T) => boolean): boolean => {
  let p = 0;
  let i = 0;
  let star = -1;
  let resume = 0;
  while (i < items.length) {
    if (p < pattern.length && !isWild(pattern[p]!) && same(pattern[p]!, items[i]!)) {
      p++;
      i++;
    } else if (p < pattern.length && isWild(pattern[p]!)) {
      star = p++;
      resume = i;
    } else if (star >= 0) {
      p = star + 1;
      i = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && isWild(pattern[p]!)) p++;
  return p === pattern.length;
};

const chars = (s: string): string[] => [...s];
/** `*` as any run of characters, `/` included: within a state name's segment, and in OIDC claim values (`repo:acme/*`). */
const flatMatches = (glob: string, text: string): boolean => wildcardMatch(chars(glob), chars(text), (c) => c === '*', (a, b) => a === b);

/** Whether `name` matches `glob`: segment by segment, `**` spanning segments, `*` within one. */
export const globMatches = (glob: string, name: string): boolean =>
  glob === '*' || wildcardMatch(glob.split('/'), name.split('/'), (segment) => segment === '**', flatMatches);

/**
 * The glob as an anchored PostgreSQL regular expression, so lists filter in the database.
 * PostgreSQL's engine does not backtrack exponentially; in TypeScript, globMatches is used instead.
 */
export const globToRegex = (glob: string): string => {
  if (glob === '*') return '^.*$';
  // `**/**` means what `**` means; collapsed, a leading `**` is the only one a separator follows.
  const segments = glob.split('/').filter((segment, i, all) => !(segment === '**' && all[i - 1] === '**'));
  let pattern = '';
  segments.forEach((segment, i) => {
    if (segment === '**') {
      pattern += i === 0 ? (segments.length === 1 ? '.*' : '(?:.*/)?') : '(?:/.*)?';
      return;
    }
    const separator = i === 0 || (i === 1 && segments[0] === '**') ? '' : '/';
    pattern += separator + segment.replace(/\./g, '\\.').replace(/\*+/g, '[^/]*');
  });
  return `^${pattern}$`;
};

/** Who a grant is for. OIDC subjects name an issuer and claims the token must carry (values may hold `*`). */
export type Subject =
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'token'; readonly name: string }
  | { readonly kind: 'oidc'; readonly issuer: string; readonly claims: ReadonlyArray<readonly [string, string]> };

const CLAIM = /^([A-Za-z_][A-Za-z0-9_.-]{0,63})=([^,]{0,256})$/;
const CLAIMS_SUFFIX = /:([A-Za-z_][A-Za-z0-9_.-]{0,63}=[^,]*(?:,[A-Za-z_][A-Za-z0-9_.-]{0,63}=[^,]*)*)$/;

const SUBJECT_FORMS = 'user:NAME, token:NAME or oidc:ISSUER[:claim=value,...]';

/**
 * `user:NAME`, `token:NAME` or `oidc:ISSUER[:claim=value,...]`. The issuer (a configured name or
 * an https URL, which holds colons itself) ends where a `:claim=value` list begins.
 */
export const parseSubject = (text: string): E.Either<string, Subject> => {
  if (text.length > 1024) return E.left('a subject is at most 1024 characters');
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (colon < 0) return E.left(`a subject must be ${SUBJECT_FORMS}; got ${described(text)}`);
  if (kind === 'user' || kind === 'token') {
    return ACCOUNT_NAME.test(rest)
      ? E.right({ kind, name: rest })
      : E.left(`${kind} names are letters, digits, ".", "_", "@" or "-", starting with a letter or digit, at most 64 characters`);
  }
  if (kind !== 'oidc') return E.left(`a subject must be ${SUBJECT_FORMS}; got ${described(text)}`);
  const suffix = CLAIMS_SUFFIX.exec(rest);
  const issuer = suffix === null ? rest : rest.slice(0, suffix.index);
  if (issuer === '' || /[\s,]/.test(issuer)) return E.left('an oidc subject must name a configured issuer: oidc:ISSUER[:claim=value,...]');
  const claims = suffix === null ? [] : (suffix[1] ?? '').split(',').map((pair) => CLAIM.exec(pair));
  if (claims.some((match) => match === null)) return E.left('oidc claims must be written claim=value, separated by commas');
  return E.right({ kind, issuer, claims: claims.map((match) => [match?.[1] ?? '', match?.[2] ?? ''] as const) });
};

/** Who is calling, as the edge established it. */
export type Identity =
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'token'; readonly name: string }
  /** `issuers`: the issuer's URL and its configured name, either of which a grant may use. */
  | { readonly kind: 'oidc'; readonly issuers: readonly string[]; readonly claims: Readonly<Record<string, string>> }
  /** A client certificate: its CN is a user name, and the user's grants apply. */
  | { readonly kind: 'cert'; readonly name: string };

const subjectMatches = (subject: Subject, identity: Identity): boolean => {
  switch (subject.kind) {
    case 'user':
      return (identity.kind === 'user' || identity.kind === 'cert') && identity.name === subject.name;
    case 'token':
      return identity.kind === 'token' && identity.name === subject.name;
    case 'oidc':
      return (
        identity.kind === 'oidc' &&
        identity.issuers.includes(subject.issuer) &&
        subject.claims.every(([claim, value]) => {
          // Own claims only: `toString` or `__proto__` must not be found on every object.
          const actual = Object.hasOwn(identity.claims, claim) ? identity.claims[claim] : undefined;
          // Claim values are no state names: `*` spans `/` there (`repo:acme/*`), as it always did.
          return typeof actual === 'string' && flatMatches(value, actual);
        })
      );
  }
};

/** The role and glob of every grant that applies to the identity. */
export const grantsFor = (grants: readonly Grant[], identity: Identity): Array<Pick<Grant, 'role' | 'glob'>> =>
  grants.filter((grant) => {
    const subject = parseSubject(grant.subject);
    return E.isRight(subject) && subjectMatches(subject.right, identity);
  }).map(({ role, glob }) => ({ role, glob }));

/** The highest role the grants give on a state name; undefined when none applies. */
export const roleOn = (grants: ReadonlyArray<Pick<Grant, 'role' | 'glob'>>, name: string): Role | undefined =>
  grants.reduce<Role | undefined>((best, grant) => (globMatches(grant.glob, name) ? higher(best, grant.role) : best), undefined);

/** Managing access takes admin on every state: a grant of admin on `*`. */
export const managesAccess = (grants: ReadonlyArray<Pick<Grant, 'role' | 'glob'>>): boolean =>
  grants.some((grant) => grant.role === 'admin' && grant.glob === '*');
