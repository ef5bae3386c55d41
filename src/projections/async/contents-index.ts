import type { ContentsReading } from '../../bodies/contents-document.js';
import { isStateEvent, type RecordedEvent } from '../../events/events.js';
import type { SqlExecutor } from '../../storage/sql.js';
import type { AsyncProjection, BatchWrite } from './async-projection.js';
import { bodyReadings } from './stored-contents.js';

/** Rows per INSERT statement. */
const CHUNK = 5000;

/** What one body event makes of a state's current version (or its absence). */
type Change =
  | { readonly kind: 'version'; readonly name: string; readonly version: number; readonly instances: number }
  | { readonly kind: 'current'; readonly name: string; readonly version: number; readonly reading: ContentsReading; readonly at: Date }
  | { readonly kind: 'deleted'; readonly name: string };

const insertRows = async (sql: SqlExecutor, table: string, columns: string, rows: readonly object[]): Promise<void> => {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await sql.query(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::${table}, $1)`, [JSON.stringify(rows.slice(i, i + CHUNK))]);
  }
};

const forget = async (sql: SqlExecutor, name: string): Promise<void> => {
  await sql.query('DELETE FROM state_resource_instances WHERE name = $1', [name]);
  await sql.query('DELETE FROM state_output_index WHERE name = $1', [name]);
};

const write = async (sql: SqlExecutor, change: Change): Promise<void> => {
  switch (change.kind) {
    case 'version':
      await sql.query(
        `INSERT INTO state_version_instances (name, version, instance_count) VALUES ($1, $2, $3)
         ON CONFLICT (name, version) DO UPDATE SET instance_count = EXCLUDED.instance_count`,
        [change.name, change.version, change.instances],
      );
      return;
    case 'deleted':
      await forget(sql, change.name);
      await sql.query('DELETE FROM state_contents WHERE name = $1', [change.name]);
      return;
    case 'current': {
      const { name, version, reading, at } = change;
      await forget(sql, name);
      const contents = reading.kind === 'contents' ? reading.contents : undefined;
      await sql.query(
        `INSERT INTO state_contents (name, version, status, reason, resource_count, instance_count, output_count, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, reason = EXCLUDED.reason,
           resource_count = EXCLUDED.resource_count, instance_count = EXCLUDED.instance_count, output_count = EXCLUDED.output_count,
           recorded_at = EXCLUDED.recorded_at`,
        [
          name,
          version,
          reading.kind === 'contents' ? 'indexed' : reading.kind,
          reading.kind === 'unreadable' ? reading.reason : null,
          contents?.resources ?? null,
          contents?.instances.length ?? null,
          contents?.outputs.length ?? null,
          at,
        ],
      );
      if (contents === undefined) return;
      await insertRows(
        sql,
        'state_resource_instances',
        'name, ordinal, address, resource_address, mode, type, resource_name, module, provider, index_key, instance_id',
        contents.instances.map((i, ordinal) => ({
          name,
          ordinal,
          address: i.address,
          resource_address: i.resourceAddress,
          mode: i.mode,
          type: i.type,
          resource_name: i.name,
          module: i.module,
          provider: i.provider,
          index_key: i.indexKey,
          instance_id: i.id,
        })),
      );
      await insertRows(
        sql,
        'state_output_index',
        'name, output, type, sensitive',
        contents.outputs.map((o) => ({ name, output: o.name, type: o.type, sensitive: o.sensitive })),
      );
      return;
    }
  }
};

/**
 * The contents index: for each state's current version, its resource instances and outputs
 * (state_contents, state_resource_instances, state_output_index), and for every version indexed,
 * how many instances its body holds (state_version_instances, which the versions list joins).
 * StatePushed and StateRolledBack make a new current version, StateDeleted leaves none; pins and
 * prunes never change the current version. Every version's body is read (for its instance count),
 * one at a time; only the last one of each state in a batch is kept whole for the index.
 * Encrypted bodies are not read: indexed as encrypted, with no contents.
 */
export const contentsIndex: AsyncProjection = {
  name: 'contents',
  tables: ['state_contents', 'state_resource_instances', 'state_output_index', 'state_version_instances'],
  prepare: async (events: readonly RecordedEvent[], { bodies }): Promise<BatchWrite> => {
    const last = new Map<string, number>();
    events.forEach((e, i) => {
      const type = e.event.type;
      if (type === 'StatePushed' || type === 'StateRolledBack' || type === 'StateDeleted') last.set(e.streamId, i);
    });
    const changes: Change[] = [];
    const nextReading = bodyReadings(events, bodies);
    for (const [i, e] of events.entries()) {
      const event = e.event;
      if (!isStateEvent(event)) continue;
      const name = e.streamId;
      if (event.type === 'StateDeleted') {
        if (last.get(name) === i) changes.push({ kind: 'deleted', name });
      } else if (event.type === 'StatePushed' || event.type === 'StateRolledBack') {
        const d = event.data;
        const reading = await nextReading();
        if (reading.kind === 'contents') changes.push({ kind: 'version', name, version: d.version, instances: reading.contents.instances.length });
        if (last.get(name) === i) changes.push({ kind: 'current', name, version: d.version, reading, at: e.recordedAt });
      }
    }
    return async (sql) => {
      for (const change of changes) await write(sql, change);
    };
  },
};
