import * as E from 'fp-ts/lib/Either.js';
import type { AccessEvent, PasswordHash } from '../events/access-events.js';
import { assertNever } from '../assert-never.js';
import { parseSubject, sameGrant, type Grant } from './roles.js';
import { evolveAccess, type AccessState } from './state.js';

/** A token as the decider sees it: never its secret, only the secret's hash. */
export interface NewToken {
  readonly name: string;
  readonly secretSha256: string;
  readonly expiresAt: string | null;
}

/** What `access apply` makes true. Every desired token comes with a fresh secret, used only if the token is new. */
export interface DesiredAccess {
  readonly users: readonly string[];
  readonly tokens: readonly NewToken[];
  readonly grants: readonly Grant[];
}

export type AccessCommand =
  | { readonly type: 'AddUser'; readonly name: string; readonly password: PasswordHash | null }
  | { readonly type: 'ChangePassword'; readonly name: string; readonly password: PasswordHash }
  | { readonly type: 'RemoveUser'; readonly name: string }
  | { readonly type: 'CreateToken'; readonly token: NewToken }
  | { readonly type: 'RevokeToken'; readonly name: string }
  | { readonly type: 'AddGrant'; readonly grant: Grant }
  | { readonly type: 'RevokeGrant'; readonly grant: Grant }
  /** The first administrator of a fresh ledger; nothing when any user or grant exists already. */
  | { readonly type: 'Bootstrap'; readonly name: string; readonly password: PasswordHash }
  | { readonly type: 'Apply'; readonly desired: DesiredAccess };

export type AccessError =
  | { readonly type: 'UserExists'; readonly name: string }
  | { readonly type: 'UserUnknown'; readonly name: string }
  | { readonly type: 'TokenExists'; readonly name: string }
  | { readonly type: 'TokenUnknown'; readonly name: string }
  | { readonly type: 'GrantUnknown'; readonly grant: Grant }
  /** A grant to a user or token that does not exist. */
  | { readonly type: 'SubjectUnknown'; readonly subject: string }
  /** The change would leave nobody who may manage access (admin on `*`): only the database could bring one back. */
  | { readonly type: 'LastAdministrator' };

type AccessDecision = E.Either<AccessError, AccessEvent[]>;

const revokeGrantsOf = (state: AccessState, subject: string): AccessEvent[] =>
  state.grants.filter((grant) => grant.subject === subject).map((grant) => ({ type: 'GrantRevoked', data: grant }));

/** A grant's user or token must exist; OIDC subjects name no account. */
const subjectExists = (state: AccessState, subject: string): boolean => {
  const parsed = parseSubject(subject);
  if (E.isLeft(parsed)) return false;
  const s = parsed.right;
  return s.kind === 'oidc' || (s.kind === 'user' ? state.users : state.tokens).includes(s.name);
};

const tokenCreated = (token: NewToken): AccessEvent => ({
  type: 'TokenCreated',
  data: { name: token.name, secret_sha256: token.secretSha256, expires_at: token.expiresAt },
});

/** The events that make the access equal to `desired`: revocations first, so nothing is briefly granted twice over. */
const decideApply = (state: AccessState, desired: DesiredAccess): AccessDecision => {
  const users = new Set(desired.users);
  const tokens = new Set(desired.tokens.map((token) => token.name));
  const unknown = desired.grants.find((grant) => {
    const parsed = parseSubject(grant.subject);
    return E.isLeft(parsed) || (parsed.right.kind !== 'oidc' && !(parsed.right.kind === 'user' ? users : tokens).has(parsed.right.name));
  });
  if (unknown !== undefined) return E.left({ type: 'SubjectUnknown', subject: unknown.subject });
  const events: AccessEvent[] = [
    ...state.grants.filter((grant) => !desired.grants.some((wanted) => sameGrant(grant, wanted))).map((grant): AccessEvent => ({ type: 'GrantRevoked', data: grant })),
    ...state.tokens.filter((name) => !tokens.has(name)).map((name): AccessEvent => ({ type: 'TokenRevoked', data: { name } })),
    ...state.users.filter((name) => !users.has(name)).map((name): AccessEvent => ({ type: 'UserRemoved', data: { name } })),
    ...desired.users.filter((name) => !state.users.includes(name)).map((name): AccessEvent => ({ type: 'UserAdded', data: { name, password: null } })),
    ...desired.tokens.filter((token) => !state.tokens.includes(token.name)).map(tokenCreated),
    ...desired.tokens
      .filter((token) => state.tokens.includes(token.name) && (state.tokenExpiries[token.name] ?? null) !== token.expiresAt)
      .map((token): AccessEvent => ({ type: 'TokenExpiryChanged', data: { name: token.name, expires_at: token.expiresAt } })),
    ...desired.grants.filter((wanted) => !state.grants.some((grant) => sameGrant(grant, wanted))).map((grant): AccessEvent => ({ type: 'GrantAdded', data: grant })),
  ];
  return E.right(events);
};

/** Someone who exists holds admin on `*`: access can still be managed over the API. */
const managed = (state: AccessState): boolean => state.grants.some((grant) => grant.role === 'admin' && grant.glob === '*' && subjectExists(state, grant.subject));

export const decideAccess = (command: AccessCommand, state: AccessState): AccessDecision =>
  E.flatMap(decideChange(command, state), (events): AccessDecision =>
    managed(state) && !managed(events.reduce(evolveAccess, state)) ? E.left({ type: 'LastAdministrator' }) : E.right(events),
  );

const decideChange = (command: AccessCommand, state: AccessState): AccessDecision => {
  switch (command.type) {
    case 'AddUser':
      if (state.users.includes(command.name)) return E.left({ type: 'UserExists', name: command.name });
      return E.right([{ type: 'UserAdded', data: { name: command.name, password: command.password } }]);
    case 'ChangePassword':
      if (!state.users.includes(command.name)) return E.left({ type: 'UserUnknown', name: command.name });
      return E.right([{ type: 'UserPasswordChanged', data: { name: command.name, password: command.password } }]);
    case 'RemoveUser':
      if (!state.users.includes(command.name)) return E.left({ type: 'UserUnknown', name: command.name });
      return E.right([...revokeGrantsOf(state, `user:${command.name}`), { type: 'UserRemoved', data: { name: command.name } }]);
    case 'CreateToken':
      if (state.tokens.includes(command.token.name)) return E.left({ type: 'TokenExists', name: command.token.name });
      return E.right([tokenCreated(command.token)]);
    case 'RevokeToken':
      if (!state.tokens.includes(command.name)) return E.left({ type: 'TokenUnknown', name: command.name });
      return E.right([...revokeGrantsOf(state, `token:${command.name}`), { type: 'TokenRevoked', data: { name: command.name } }]);
    case 'AddGrant':
      if (!subjectExists(state, command.grant.subject)) return E.left({ type: 'SubjectUnknown', subject: command.grant.subject });
      // Granting what is granted already changes nothing: scripts may run twice.
      if (state.grants.some((grant) => sameGrant(grant, command.grant))) return E.right([]);
      return E.right([{ type: 'GrantAdded', data: command.grant }]);
    case 'RevokeGrant':
      if (!state.grants.some((grant) => sameGrant(grant, command.grant))) return E.left({ type: 'GrantUnknown', grant: command.grant });
      return E.right([{ type: 'GrantRevoked', data: command.grant }]);
    case 'Bootstrap':
      if (state.users.length > 0 || state.grants.length > 0) return E.right([]);
      return E.right([
        { type: 'UserAdded', data: { name: command.name, password: command.password } },
        { type: 'GrantAdded', data: { role: 'admin', subject: `user:${command.name}`, glob: '*' } },
      ]);
    case 'Apply':
      return decideApply(state, command.desired);
    default:
      return assertNever(command);
  }
};
