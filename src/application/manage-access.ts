import * as E from 'fp-ts/lib/Either.js';
import { decideAccess, type AccessCommand, type AccessError, type DesiredAccess } from '../access/decide.js';
import type { DesiredAccessFile } from '../access/access-file.js';
import type { Grant } from '../access/roles.js';
import { evolveAccess, type AccessState } from '../access/state.js';
import { commandHandler, type CommandObserver } from '../commands/handler.js';
import type { ConcurrencyConflict } from '../commands/errors.js';
import type { CommandMetadata } from '../commands/commands.js';
import type { EventStore } from '../commands/ports.js';
import { ACCESS_STREAM, type AccessEvent } from '../events/access-events.js';
import { generatePassword, hashPassword } from '../identity/passwords.js';
import { generateTokenSecret, secretSha256 } from '../identity/tokens.js';

export type AccessFailure = AccessError | ConcurrencyConflict;

/** One line per change, as `access apply` prints it and the audit trail would describe it. */
export const describeAccessEvent = (event: AccessEvent): string => {
  switch (event.type) {
    case 'UserAdded':
      return `add user ${event.data.name}`;
    case 'UserPasswordChanged':
      return `change the password of user ${event.data.name}`;
    case 'UserRemoved':
      return `remove user ${event.data.name}`;
    case 'TokenCreated':
      return `create token ${event.data.name}${event.data.expires_at === null ? '' : ` (expires ${event.data.expires_at})`}`;
    case 'TokenRevoked':
      return `revoke token ${event.data.name}`;
    case 'TokenExpiryChanged':
      return `make token ${event.data.name} ${event.data.expires_at === null ? 'never expire' : `expire ${event.data.expires_at}`}`;
    case 'GrantAdded':
      return `grant ${event.data.role} to ${event.data.subject} on ${event.data.glob}`;
    case 'GrantRevoked':
      return `revoke ${event.data.role} from ${event.data.subject} on ${event.data.glob}`;
  }
};

export interface Applied {
  readonly changes: readonly string[];
  /** Secrets of the tokens this run created, shown once. */
  readonly secrets: ReadonlyArray<{ readonly name: string; readonly secret: string }>;
}

/** Users, tokens and grants: every change is a command on the access stream. */
export const manageAccess = (store: EventStore<AccessState, AccessEvent>, observer?: CommandObserver) => {
  const run = commandHandler(store, decideAccess, evolveAccess, observer);
  const execute = async (command: AccessCommand, metadata: CommandMetadata) =>
    E.map((handled: { events: Array<{ event: AccessEvent }> }) => handled.events.map((e) => e.event))(await run(ACCESS_STREAM, command, metadata)());

  return {
    /** Without a password, one is generated and answered (shown once). */
    addUser: async (name: string, password: string | undefined, metadata: CommandMetadata): Promise<E.Either<AccessFailure, { password: string | undefined }>> => {
      const generated = password === undefined ? generatePassword() : undefined;
      const outcome = await execute({ type: 'AddUser', name, password: await hashPassword(password ?? generated ?? '') }, metadata);
      return E.map(() => ({ password: generated }))(outcome);
    },
    /** A user without a password: signs in with a client certificate until one is set. */
    addUserWithoutPassword: (name: string, metadata: CommandMetadata) => execute({ type: 'AddUser', name, password: null }, metadata),
    changePassword: async (name: string, password: string, metadata: CommandMetadata) =>
      execute({ type: 'ChangePassword', name, password: await hashPassword(password) }, metadata),
    removeUser: (name: string, metadata: CommandMetadata) => execute({ type: 'RemoveUser', name }, metadata),
    createToken: async (name: string, expiresAt: Date | null, metadata: CommandMetadata): Promise<E.Either<AccessFailure, { secret: string }>> => {
      const secret = generateTokenSecret();
      const outcome = await execute({ type: 'CreateToken', token: { name, secretSha256: secretSha256(secret), expiresAt: expiresAt?.toISOString() ?? null } }, metadata);
      return E.map(() => ({ secret }))(outcome);
    },
    revokeToken: (name: string, metadata: CommandMetadata) => execute({ type: 'RevokeToken', name }, metadata),
    grant: (grant: Grant, metadata: CommandMetadata) => execute({ type: 'AddGrant', grant }, metadata),
    revokeGrant: (grant: Grant, metadata: CommandMetadata) => execute({ type: 'RevokeGrant', grant }, metadata),
    /** The first administrator of a fresh ledger, with the password given or a generated one; undefined when there is one already. */
    bootstrap: async (name: string, metadata: CommandMetadata, given?: string): Promise<string | undefined> => {
      const password = given ?? generatePassword();
      const outcome = await execute({ type: 'Bootstrap', name, password: await hashPassword(password) }, metadata);
      if (E.isLeft(outcome)) throw new Error(`creating the first administrator failed: ${outcome.left.type}`);
      return outcome.right.length > 0 ? password : undefined;
    },
    /** Makes users, tokens and grants equal to the file; with dryRun, only says what that would change. */
    apply: async (file: DesiredAccessFile, dryRun: boolean, metadata: CommandMetadata): Promise<E.Either<AccessFailure, Applied>> => {
      const secrets = new Map(file.tokens.map((token) => [token.name, generateTokenSecret()]));
      const desired: DesiredAccess = {
        users: file.users,
        grants: file.grants,
        tokens: file.tokens.map((token) => ({ name: token.name, expiresAt: token.expiresAt, secretSha256: secretSha256(secrets.get(token.name) ?? '') })),
      };
      const command: AccessCommand = { type: 'Apply', desired };
      const events = dryRun ? decideAccess(command, (await store.load(ACCESS_STREAM)).state) : await execute(command, metadata);
      return E.map((changed: AccessEvent[]) => ({
        changes: changed.map(describeAccessEvent),
        secrets: dryRun
          ? []
          : changed.flatMap((event) => (event.type === 'TokenCreated' ? [{ name: event.data.name, secret: secrets.get(event.data.name) ?? '' }] : [])),
      }))(events);
    },
  };
};

export type AccessManager = ReturnType<typeof manageAccess>;
