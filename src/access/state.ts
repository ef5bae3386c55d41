import * as t from 'io-ts';
import type { AccessEvent } from '../events/access-events.js';
import { RoleCodec } from '../events/access-events.js';
import { assertNever } from '../assert-never.js';
import { sameGrant, type Grant } from './roles.js';

/** What the access decider needs: which users, tokens and grants exist. Plain JSON, so it can be snapshotted. */
export const AccessStateCodec = t.type({
  users: t.array(t.string),
  tokens: t.array(t.string),
  /** Each token's expiry, so that `access apply` can tell when a file changes one. */
  tokenExpiries: t.record(t.string, t.union([t.string, t.null])),
  grants: t.array(t.type({ role: RoleCodec, subject: t.string, glob: t.string })),
});
export type AccessState = t.TypeOf<typeof AccessStateCodec>;

/** Bump when AccessState changes shape: stored snapshots of an older shape are then ignored and the stream refolded. */
export const ACCESS_STATE_SCHEMA = 2;

export const initialAccess: AccessState = { users: [], tokens: [], tokenExpiries: {}, grants: [] };

const withExpiry = (expiries: AccessState['tokenExpiries'], name: string, expiresAt: string | null | undefined): AccessState['tokenExpiries'] => {
  const { [name]: _dropped, ...rest } = expiries;
  return expiresAt === undefined ? rest : { ...rest, [name]: expiresAt };
};

export const evolveAccess = (state: AccessState, event: AccessEvent): AccessState => {
  switch (event.type) {
    case 'UserAdded':
      return { ...state, users: [...state.users, event.data.name] };
    case 'UserPasswordChanged':
      return state;
    case 'UserRemoved':
      return { ...state, users: state.users.filter((name) => name !== event.data.name) };
    case 'TokenCreated':
      return { ...state, tokens: [...state.tokens, event.data.name], tokenExpiries: withExpiry(state.tokenExpiries, event.data.name, event.data.expires_at) };
    case 'TokenRevoked':
      return { ...state, tokens: state.tokens.filter((name) => name !== event.data.name), tokenExpiries: withExpiry(state.tokenExpiries, event.data.name, undefined) };
    case 'TokenExpiryChanged':
      return { ...state, tokenExpiries: withExpiry(state.tokenExpiries, event.data.name, event.data.expires_at) };
    case 'GrantAdded':
      return { ...state, grants: [...state.grants, event.data] };
    case 'GrantRevoked': {
      const revoked: Grant = event.data;
      return { ...state, grants: state.grants.filter((grant) => !sameGrant(grant, revoked)) };
    }
    default:
      return assertNever(event);
  }
};
