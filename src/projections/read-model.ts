import { assertNever } from '../assert-never.js';
import type { AccessEvent, PasswordHash } from '../events/access-events.js';
import { isStateEvent, type ProjectableEvent, type StateEvent } from '../events/events.js';
import type { LockInfo } from '../events/lock-info.js';

/**
 * The read models as pure functions of the events: each event becomes row changes, which one
 * applier writes inline (in the appending transaction) and another folds in memory for a rebuild.
 * One definition, so the live tables and a replay cannot drift apart.
 */

export interface HeadRow {
  readonly name: string;
  readonly version: number | null;
  readonly blob_key: string | null;
  readonly sha256: string | null;
  readonly md5: string | null;
  readonly size: number | null;
  readonly serial: number | null;
  readonly lineage: string | null;
  readonly terraform_version: string | null;
  readonly encrypted: boolean | null;
  readonly updated_at: string;
  readonly updated_by: string;
}

export interface LockRow {
  readonly name: string;
  readonly lock_id: string;
  readonly info: LockInfo;
  readonly acquired_at: string;
  readonly acquired_by: string;
  /** When the lock's lease ends (renewed by its holder's writes); null when it has none. */
  readonly lease_until: string | null;
}

export interface VersionRow {
  readonly name: string;
  readonly version: number;
  readonly blob_key: string;
  readonly sha256: string;
  readonly md5: string | null;
  readonly size: number;
  readonly serial: number;
  readonly lineage: string;
  readonly terraform_version: string | null;
  readonly encrypted: boolean;
  readonly lock_id: string | null;
  readonly operation: string | null;
  readonly who: string | null;
  readonly restored_from: number | null;
  readonly resource_count: number | null;
  readonly output_count: number | null;
  readonly created_at: string;
  readonly created_by: string;
  /** Set while an administrator keeps the version from retention (VersionPinned), null otherwise. */
  readonly pinned_at: string | null;
  readonly pinned_by: string | null;
  readonly pinned_reason: string | null;
  /** Set once a retention policy removed the version's body (VersionPruned): the row itself stays. */
  readonly pruned_at: string | null;
  readonly pruned_policy: string | null;
}

export interface UserRow {
  readonly name: string;
  readonly password: PasswordHash | null;
  readonly updated_at: string;
  readonly updated_by: string;
}

export interface TokenRow {
  readonly name: string;
  readonly secret_sha256: string;
  readonly expires_at: string | null;
  readonly created_at: string;
  readonly created_by: string;
}

export interface GrantRow {
  readonly role: string;
  readonly subject: string;
  readonly glob: string;
  readonly granted_at: string;
  readonly granted_by: string;
}

interface Tables {
  state_heads: HeadRow;
  state_locks: LockRow;
  state_versions: VersionRow;
  access_users: UserRow;
  access_tokens: TokenRow;
  access_grants: GrantRow;
}
export type TableName = keyof Tables;

/** The tables the projections own, with their primary keys; `replay` rebuilds exactly these. */
export const readModelTables: Readonly<Record<TableName, readonly string[]>> = {
  state_heads: ['name'],
  state_locks: ['name'],
  state_versions: ['name', 'version'],
  access_users: ['name'],
  access_tokens: ['name'],
  access_grants: ['role', 'subject', 'glob'],
};

/** Tables whose rows are only ever inserted: a rebuild writes them out batch by batch instead of keeping them. */
export const appendOnlyTables: readonly TableName[] = ['state_versions'];

export type ReadModelChange =
  | { [T in TableName]: { readonly kind: 'upsert'; readonly table: T; readonly row: Tables[T] } }[TableName]
  /** key: the row's primary-key columns and their values. */
  | { readonly kind: 'delete'; readonly table: TableName; readonly key: Readonly<Record<string, string>> }
  /** Sets some columns of an existing row. */
  | { readonly kind: 'update'; readonly table: TableName; readonly key: Readonly<Record<string, string>>; readonly set: Readonly<Record<string, unknown>> };

const versionKey = (name: string, version: number): Readonly<Record<string, string>> => ({ name, version: String(version) });

export const rowKey = (table: TableName, row: object): string =>
  readModelTables[table].map((column) => String((row as Record<string, unknown>)[column])).join('\u0000');

const projectAccess = (event: AccessEvent, actor: string, at: string): ReadModelChange[] => {
  switch (event.type) {
    case 'UserAdded':
    case 'UserPasswordChanged':
      return [{ kind: 'upsert', table: 'access_users', row: { name: event.data.name, password: event.data.password, updated_at: at, updated_by: actor } }];
    case 'UserRemoved':
      return [{ kind: 'delete', table: 'access_users', key: { name: event.data.name } }];
    case 'TokenCreated':
      return [{ kind: 'upsert', table: 'access_tokens', row: { ...event.data, created_at: at, created_by: actor } }];
    case 'TokenRevoked':
      return [{ kind: 'delete', table: 'access_tokens', key: { name: event.data.name } }];
    case 'TokenExpiryChanged':
      return [{ kind: 'update', table: 'access_tokens', key: { name: event.data.name }, set: { expires_at: event.data.expires_at } }];
    case 'GrantAdded':
      return [{ kind: 'upsert', table: 'access_grants', row: { ...event.data, granted_at: at, granted_by: actor } }];
    case 'GrantRevoked':
      return [{ kind: 'delete', table: 'access_grants', key: event.data }];
    default:
      return assertNever(event);
  }
};

export const project = (recorded: ProjectableEvent): ReadModelChange[] => {
  const { streamId: name, metadata } = recorded;
  const at = recorded.recordedAt.toISOString();
  if (!isStateEvent(recorded.event)) return projectAccess(recorded.event, metadata.actor, at);
  const event: StateEvent = recorded.event;
  switch (event.type) {
    case 'StateLocked':
      return [
        {
          kind: 'upsert',
          table: 'state_locks',
          row: {
            name,
            lock_id: event.data.lock.ID,
            info: event.data.lock,
            acquired_at: at,
            acquired_by: metadata.actor,
            lease_until: event.data.lease?.until ?? null,
          },
        },
      ];
    case 'StateUnlocked':
    case 'LockForceReleased':
    case 'LockExpired':
      return [{ kind: 'delete', table: 'state_locks', key: { name } }];
    case 'StatePushed':
    case 'StateRolledBack': {
      const d = event.data;
      const body = {
        name,
        version: d.version,
        blob_key: d.blob_key,
        sha256: d.sha256,
        md5: d.md5,
        size: d.size,
        serial: d.serial,
        lineage: d.lineage,
        terraform_version: d.terraform_version,
        encrypted: d.encrypted,
      };
      const version: VersionRow = {
        ...body,
        lock_id: d.lock_id,
        operation: d.lock_operation,
        who: d.lock_who,
        restored_from: event.type === 'StateRolledBack' ? event.data.to_version : null,
        resource_count: d.resource_count,
        output_count: d.output_count,
        created_at: at,
        created_by: metadata.actor,
        pinned_at: null,
        pinned_by: null,
        pinned_reason: null,
        pruned_at: null,
        pruned_policy: null,
      };
      return [
        { kind: 'upsert', table: 'state_versions', row: version },
        { kind: 'upsert', table: 'state_heads', row: { ...body, updated_at: at, updated_by: metadata.actor } },
        ...(d.lease_until === null ? [] : [{ kind: 'update', table: 'state_locks', key: { name }, set: { lease_until: d.lease_until } } as const]),
      ];
    }
    case 'StateDeleted':
      return [
        {
          kind: 'upsert',
          table: 'state_heads',
          row: {
            name,
            version: null,
            blob_key: null,
            sha256: null,
            md5: null,
            size: null,
            serial: null,
            lineage: null,
            terraform_version: null,
            encrypted: null,
            updated_at: at,
            updated_by: metadata.actor,
          },
        },
      ];
    case 'VersionPinned':
      return [{ kind: 'update', table: 'state_versions', key: versionKey(name, event.data.version), set: { pinned_at: at, pinned_by: metadata.actor, pinned_reason: event.data.reason } }];
    case 'VersionUnpinned':
      return [{ kind: 'update', table: 'state_versions', key: versionKey(name, event.data.version), set: { pinned_at: null, pinned_by: null, pinned_reason: null } }];
    case 'VersionPruned':
      return [{ kind: 'update', table: 'state_versions', key: versionKey(name, event.data.version), set: { pruned_at: at, pruned_policy: event.data.policy } }];
    default:
      return assertNever(event);
  }
};
