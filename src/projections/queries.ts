import * as E from 'fp-ts/lib/Either.js';
import type { HeldLock } from '../storage/event-reads.js';
import type { LockInfo } from '../events/lock-info.js';
import type { VersionRow } from './read-model.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { PruneCandidate, VersionFacts } from '../commands/commands.js';
import type { DomainError } from '../commands/errors.js';

/** A stored body as the read models describe it. */
export interface BodyRef {
  readonly version: number;
  readonly blob_key: string;
  readonly sha256: string;
  readonly md5: string | null;
  readonly size: number;
}

/** A version as the history lists it (a state_versions row, its time as a Date). */
export type VersionEntry = Omit<VersionRow, 'name' | 'created_at' | 'pinned_at' | 'pruned_at'> & {
  readonly created_at: Date;
  readonly pinned_at: Date | null;
  readonly pruned_at: Date | null;
};

/** The read model's account of a version for the decider: whether (when, by which policy) its body was pruned. */
export const versionFacts = (entry: VersionEntry): VersionFacts => ({
  version: entry.version,
  pruned: entry.pruned_at === null ? null : { at: entry.pruned_at.toISOString(), policy: entry.pruned_policy ?? 'unknown' },
});

/** The refusal for reading a pruned version's body, or undefined when the version is kept. */
export const prunedError = (name: string, entry: VersionEntry): Extract<DomainError, { type: 'VersionPruned' }> | undefined =>
  entry.pruned_at === null ? undefined : { type: 'VersionPruned', name, version: entry.version, prunedAt: entry.pruned_at.toISOString(), policy: entry.pruned_policy ?? 'unknown' };


export interface StateListing {
  readonly name: string;
  readonly version: number | null;
  readonly size: number | null;
  readonly updated_at: Date | null;
  /** The actor who wrote the current version, and the Who of the lock held then (as the versions list has them). */
  readonly updated_by: string | null;
  readonly who: string | null;
  readonly lock: { readonly id: string; readonly who: string | null; readonly operation: string | null; readonly acquired_at: Date; readonly acquired_by: string } | null;
}

type Row = Record<string, unknown>;

/** The current body of a state, or undefined when it has none (never pushed, or deleted). */
export const currentBody = async (sql: SqlExecutor, name: string): Promise<BodyRef | undefined> => {
  const { rows } = await sql.query<BodyRef & Row>(
    'SELECT version, blob_key, sha256, md5, size FROM state_heads WHERE name = $1 AND version IS NOT NULL',
    [name],
  );
  return rows[0];
};

/** A held lock as the read model has it: with its lease's end (null without one). */
export type LockEntry = HeldLock & { readonly lease_until: Date | null };

export const heldLock = async (sql: SqlExecutor, name: string): Promise<LockEntry | undefined> => {
  const { rows } = await sql.query<LockEntry & Row>(
    'SELECT info, acquired_at, acquired_by, lease_until FROM state_locks WHERE name = $1',
    [name],
  );
  return rows[0];
};

/** Every held lock on a state whose name matches one of the regular expressions, oldest first. */
export const listLocks = async (sql: SqlExecutor, visible: readonly string[]): Promise<Array<LockEntry & { readonly name: string }>> => {
  const { rows } = await sql.query<LockEntry & { name: string } & Row>(
    'SELECT name, info, acquired_at, acquired_by, lease_until FROM state_locks WHERE name ~ ANY($1::text[]) ORDER BY acquired_at, name',
    [visible],
  );
  return rows;
};

const versionColumns =
  'version, blob_key, sha256, md5, size, serial, lineage, terraform_version, encrypted, created_at, created_by, lock_id, ' +
  'operation, who, restored_from, resource_count, output_count, pinned_at, pinned_by, pinned_reason, pruned_at, pruned_policy';

export const MAX_VERSION = 2 ** 31 - 1;

/**
 * A version in the versions list, with the resource instances its body holds as the contents
 * index counted them (src/projections/async/contents-index.ts): null until the index has read it,
 * and for encrypted or unreadable bodies.
 */
export type ListedVersion = VersionEntry & { readonly instance_count: number | null };

/** Newest first; `before` is an exclusive keyset cursor (the primary key serves it); `at` hides later versions. */
export const listVersions = async (
  sql: SqlExecutor,
  name: string,
  page: { limit: number; before?: number | undefined; at?: Date | undefined },
): Promise<ListedVersion[]> => {
  const { rows } = await sql.query<ListedVersion & Row>(
    `SELECT ${versionColumns}, i.instance_count FROM state_versions LEFT JOIN state_version_instances i USING (name, version)
     WHERE name = $1 AND version < $2 AND ($4::timestamptz IS NULL OR created_at <= $4)
     ORDER BY version DESC LIMIT $3`,
    [name, page.before ?? MAX_VERSION, page.limit, page.at ?? null],
  );
  return rows;
};

/** The state's current version now: null once it has been deleted (or before its first push). */
export const currentVersion = async (sql: SqlExecutor, name: string): Promise<number | null> => {
  const { rows } = await sql.query<{ version: number | null } & Row>('SELECT version FROM state_heads WHERE name = $1', [name]);
  return rows[0]?.version ?? null;
};

/** A version as the history records it, pruned or not (its metadata outlives its body). */
export const findVersionRecord = async (sql: SqlExecutor, name: string, version: number): Promise<VersionEntry | undefined> => {
  const { rows } = await sql.query<VersionEntry & Row>(
    `SELECT ${versionColumns} FROM state_versions WHERE name = $1 AND version = $2`,
    [name, version],
  );
  return rows[0];
};

/**
 * A version whose body may be read: the refusal (answered 410) for a pruned one, so that no caller
 * serves, diffs or restores a body retention removed; undefined for a version that does not exist.
 */
export const findVersion = async (
  sql: SqlExecutor,
  name: string,
  version: number,
): Promise<E.Either<Extract<DomainError, { type: 'VersionPruned' }>, VersionEntry | undefined>> => {
  const entry = await findVersionRecord(sql, name, version);
  const pruned = entry === undefined ? undefined : prunedError(name, entry);
  return pruned === undefined ? E.right(entry) : E.left(pruned);
};

/** What a retention rule keeps: the last `keepLast` versions, and the versions younger than `keepSeconds`; either may be absent. */
export interface KeepRule {
  readonly keepLast: number | null;
  readonly keepSeconds: number | null;
}

export type PruneCandidateRow = PruneCandidate & { readonly size: number };

/**
 * Versions of a state that `rule` does not keep (a version is kept if any of its conditions keeps
 * it), that are not pruned yet, not pinned and not `head`; oldest first, at most `limit`, after
 * version `after`. "The last N" counts every version written, pruned ones included.
 */
export const pruneCandidates = async (
  sql: SqlExecutor,
  name: string,
  rule: KeepRule,
  now: Date,
  head: number | null,
  page: { after: number; limit: number },
): Promise<PruneCandidateRow[]> => {
  const { rows } = await sql.query<{ version: number; blob_key: string; size: string | number } & Row>(
    `SELECT version, blob_key, size FROM (
       SELECT version, blob_key, size, created_at, pruned_at, pinned_at, row_number() OVER (ORDER BY version DESC) AS rank
       FROM state_versions WHERE name = $1) v
     WHERE pruned_at IS NULL AND pinned_at IS NULL AND version > $5 AND version IS DISTINCT FROM $4::int
       AND NOT (($2::bigint IS NOT NULL AND rank <= $2) OR ($3::timestamptz IS NOT NULL AND created_at >= $3))
     ORDER BY version LIMIT $6`,
    [name, rule.keepLast, rule.keepSeconds === null ? null : new Date(now.getTime() - rule.keepSeconds * 1000), head, page.after, page.limit],
  );
  return rows.map((row) => ({ version: row.version, blobKey: row.blob_key, size: Number(row.size) }));
};

/** Every state with a version history, by name, after `after`. */
export const statesWithVersions = async (sql: SqlExecutor, after: string, limit: number): Promise<string[]> => {
  const { rows } = await sql.query<{ name: string } & Row>('SELECT name FROM state_heads WHERE name > $1 ORDER BY name LIMIT $2', [after, limit]);
  return rows.map((row) => row.name);
};

/** Of these blob keys, those some kept (not pruned) version of any state refers to. */
export const keptKeys = async (sql: SqlExecutor, keys: readonly string[]): Promise<Set<string>> => {
  const { rows } = await sql.query<{ blob_key: string } & Row>(
    'SELECT DISTINCT blob_key FROM state_versions WHERE blob_key = ANY($1::text[]) AND pruned_at IS NULL',
    [keys],
  );
  return new Set(rows.map((row) => row.blob_key));
};

/**
 * States that have a body or a lock, by name, among those whose names match one of the regular
 * expressions and start with `prefix` (a subtree, `team-a/`). Who wrote the current version comes
 * from its own row, found by the primary key of state_versions.
 */
export const listStates = async (sql: SqlExecutor, visible: readonly string[], prefix = ''): Promise<StateListing[]> => {
  const { rows } = await sql.query<Row>(
    `SELECT coalesce(h.name, l.name) AS name, h.version, h.size, h.updated_at, v.created_by AS updated_by, v.who,
            l.lock_id, l.info, l.acquired_at, l.acquired_by
     FROM state_heads h FULL OUTER JOIN state_locks l ON l.name = h.name
       LEFT JOIN state_versions v ON v.name = h.name AND v.version = h.version
     WHERE (h.version IS NOT NULL OR l.name IS NOT NULL) AND coalesce(h.name, l.name) ~ ANY($1::text[])
       AND starts_with(coalesce(h.name, l.name), $2)
     ORDER BY 1`,
    [visible, prefix],
  );
  return rows.map((row) => {
    const info = row.info as LockInfo | null;
    return {
      name: row.name as string,
      version: row.version as number | null,
      size: row.size as number | null,
      updated_at: row.updated_at as Date | null,
      updated_by: row.updated_by as string | null,
      who: row.who as string | null,
      lock:
        info === null
          ? null
          : {
              id: info.ID,
              who: info.Who ?? null,
              operation: info.Operation ?? null,
              acquired_at: row.acquired_at as Date,
              acquired_by: row.acquired_by as string,
            },
    };
  });
};

/** One filter of a resource search: the exact value, or (`prefix`) the start of it. */
export interface TextMatch {
  readonly value: string;
  readonly prefix: boolean;
}

export interface ResourceFilter {
  readonly type?: TextMatch | undefined;
  /** Exact: the instance address or its resource's address; prefix: the start of the instance address. */
  readonly address?: TextMatch | undefined;
  readonly id?: TextMatch | undefined;
  readonly provider?: TextMatch | undefined;
  /** '' (exact) is the root module. */
  readonly module?: TextMatch | undefined;
  readonly state?: TextMatch | undefined;
}

export interface FoundResource {
  readonly state: string;
  readonly version: number;
  readonly ordinal: number;
  readonly address: string;
  readonly resource_address: string;
  readonly mode: string;
  readonly type: string;
  readonly name: string;
  readonly module: string;
  readonly provider: string;
  readonly index_key: string | number | null;
  readonly id: string | null;
}

/** LIKE's own characters taken literally. */
const likePrefix = (value: string): string => `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Resource instances of the current versions (the contents index) of states whose name matches
 * one of `visible` (PostgreSQL regular expressions), filtered, in (state, place in the document)
 * order after the keyset cursor `after`. Each filter is `=` or `LIKE 'start%'` on a column with a
 * text_pattern_ops index (migrations/0007).
 *
 * Two shapes, because PostgreSQL cannot estimate how many states a caller's regular expressions
 * let through: with an `id` or `address` filter, or an exact `type` and no `state` (selective, indexed), the
 * matching instances are found by that index and joined to the visible states; otherwise the visible states are walked in
 * name order and each one's instances read by the primary key (name, ordinal), a page at most per
 * state, so a reader of a few states among thousands never scans the others' instances.
 */
export const searchResources = async (
  sql: SqlExecutor,
  visible: readonly string[],
  filter: ResourceFilter,
  page: { readonly limit: number; readonly after?: { readonly state: string; readonly ordinal: number } | undefined },
): Promise<FoundResource[]> => {
  const values: unknown[] = [visible, page.limit];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const instance: string[] = [];
  const states: string[] = ['c.name ~ ANY($1::text[])'];
  const match = (into: string[], column: string, m: TextMatch | undefined) => {
    if (m === undefined) return;
    into.push(m.prefix ? `${column} LIKE ${param(likePrefix(m.value))}` : `${column} = ${param(m.value)}`);
  };
  match(instance, 'r.type', filter.type);
  match(instance, 'r.instance_id', filter.id);
  match(instance, 'r.provider', filter.provider);
  match(instance, 'r.module', filter.module);
  match(states, 'c.name', filter.state);
  if (filter.address !== undefined) {
    if (filter.address.prefix) match(instance, 'r.address', filter.address);
    else {
      const value = param(filter.address.value);
      instance.push(`(r.address = ${value} OR r.resource_address = ${value})`);
    }
  }
  if (page.after !== undefined) {
    const state = param(page.after.state);
    states.push(`c.name >= ${state}`);
    instance.push(`(r.name, r.ordinal) > (${state}, ${param(page.after.ordinal)})`);
  }
  const columns = `r.name AS state, c.version, r.ordinal, r.address, r.resource_address, r.mode, r.type, r.resource_name AS name, r.module, r.provider,
            r.index_key, r.instance_id AS id`;
  const where = (conditions: readonly string[]) => (conditions.length === 0 ? 'TRUE' : conditions.join(' AND '));
  // An exact type is selective too: its index (migrations/0010) holds its instances in page order.
  // Not with a state filter, which the walk over the states narrows first.
  const selective = filter.id !== undefined || filter.address !== undefined || (filter.type !== undefined && !filter.type.prefix && filter.state === undefined);
  const { rows } = await sql.query<FoundResource & Row>(
    selective
      ? `SELECT ${columns} FROM state_resource_instances r JOIN state_contents c ON c.name = r.name
         WHERE ${where([...states, ...instance])}
         ORDER BY r.name, r.ordinal LIMIT $2`
      : `SELECT ${columns}
         FROM (SELECT name, version FROM state_contents c WHERE ${where(states)} ORDER BY name) c
         CROSS JOIN LATERAL (SELECT * FROM state_resource_instances r WHERE r.name = c.name AND ${where(instance)} ORDER BY r.ordinal LIMIT $2) r
         ORDER BY c.name, r.ordinal LIMIT $2`,
    values,
  );
  return rows;
};
