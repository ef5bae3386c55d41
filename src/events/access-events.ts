import * as t from 'io-ts';

/**
 * Who may do what, as events of the one access stream. Stored type names are part of the
 * database contract and never renamed. Secrets never appear: a password is kept as its scrypt
 * hash (with the parameters that made it), a token as the SHA-256 of its random secret.
 */

/** The one stream every change to access is appended to (no state name can start with `$`). */
export const ACCESS_STREAM = '$access';

export const PasswordHashCodec = t.type({
  algorithm: t.literal('scrypt'),
  /** scrypt's cost parameters, kept with the hash so they can be raised for new hashes later. */
  N: t.number,
  r: t.number,
  p: t.number,
  salt: t.string,
  hash: t.string,
});
export type PasswordHash = t.TypeOf<typeof PasswordHashCodec>;

export const RoleCodec = t.keyof({ outputs: null, read: null, write: null, admin: null });

const GrantFields = t.type({ role: RoleCodec, subject: t.string, glob: t.string });

export const accessEventCodecs = {
  /** password null: the user signs in another way (a client certificate), until one is set. */
  UserAdded: t.type({ name: t.string, password: t.union([PasswordHashCodec, t.null]) }),
  UserPasswordChanged: t.type({ name: t.string, password: PasswordHashCodec }),
  UserRemoved: t.type({ name: t.string }),
  TokenCreated: t.type({ name: t.string, secret_sha256: t.string, expires_at: t.union([t.string, t.null]) }),
  TokenRevoked: t.type({ name: t.string }),
  TokenExpiryChanged: t.type({ name: t.string, expires_at: t.union([t.string, t.null]) }),
  GrantAdded: GrantFields,
  GrantRevoked: GrantFields,
} as const;

type Codecs = typeof accessEventCodecs;
export type AccessEventType = keyof Codecs;
export type AccessEvent = {
  [K in AccessEventType]: { type: K; data: t.TypeOf<Codecs[K]> };
}[AccessEventType];

export const isAccessEventType = (type: string): type is AccessEventType => Object.prototype.hasOwnProperty.call(accessEventCodecs, type);

/** An access event as the audit trail shows it: the hashes of passwords and tokens left out. */
export const publicAccessData = (event: AccessEvent): Record<string, unknown> => {
  switch (event.type) {
    case 'UserAdded':
      return { name: event.data.name, password: event.data.password === null ? 'none' : 'set' };
    case 'UserPasswordChanged':
      return { name: event.data.name };
    case 'TokenCreated':
      return { name: event.data.name, expires_at: event.data.expires_at };
    default:
      return event.data;
  }
};
