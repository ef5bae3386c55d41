import * as E from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { accessEventCodecs, isAccessEventType } from '../events/access-events.js';
import { eventDataCodecs, EventMetadataCodec, isStateEventType, type LedgerEvent, type RecordedEvent } from '../events/events.js';
import { chainedSchemaVersion, type ChainedFields } from '../events/hash-chain.js';
import { upcast } from '../events/upcasters.js';

/** An events row as pg returns it (int8 columns arrive as numbers, see postgres.ts). */
export interface EventRow {
  global_position: number;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date;
  hash: string;
  schema_version: number;
}

export const eventColumns = 'global_position, stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version';

/** What the row's hash covers, exactly as stored (before any upcasting). */
export const chainedFieldsOf = (row: EventRow): ChainedFields => ({
  stream_id: row.stream_id,
  stream_version: row.stream_version,
  type: row.type,
  data: row.data,
  metadata: row.metadata,
  recorded_at: row.recorded_at,
  schema_version: chainedSchemaVersion(row.schema_version),
});

/**
 * Decodes a stored event, upcast to the current shape of its type; a row that does not decode
 * means the ledger is corrupt (or written by a newer server), so it throws.
 */
export const decodeEventRow = (row: EventRow): RecordedEvent => {
  const where = `event at position ${row.global_position} (${row.stream_id} v${row.stream_version})`;
  const codec = isStateEventType(row.type) ? eventDataCodecs[row.type] : isAccessEventType(row.type) ? accessEventCodecs[row.type] : undefined;
  if (codec === undefined) throw new Error(`${where} has unknown type ${row.type}`);
  const shaped = upcast(row.type, row.schema_version, row.data);
  if ('problem' in shaped) throw new Error(`${where} ${shaped.problem}`);
  const data = (codec as t.Decoder<unknown, unknown>).decode(shaped.data);
  const metadata = EventMetadataCodec.decode(row.metadata);
  if (E.isLeft(data)) throw new Error(`${where}: ${PathReporter.report(data).join('; ')}`);
  if (E.isLeft(metadata)) throw new Error(`${where}: ${PathReporter.report(metadata).join('; ')}`);
  return {
    position: row.global_position,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    event: { type: row.type, data: data.right } as LedgerEvent,
    metadata: metadata.right,
    recordedAt: row.recorded_at,
    hash: row.hash,
  };
};
