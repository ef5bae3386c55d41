import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

/**
 * A ledger archive: one tar stream (ustar), its entries in this order.
 *
 *   manifest.json            what the archive holds (ArchiveManifest); always first
 *   events/000001.ndjson     the events, one JSON object a line (ArchivedEvent), in position order,
 *   events/000002.ndjson     chunks of at most EVENTS_PER_CHUNK events
 *   ...
 *   blobs/sha256/ab/ab12...  each body the events refer to, once, under its blob key, in key order
 *   absent-blobs/000001.ndjson  bodies referred to but not in the archive ({ key, reason }), if
 *                            any, one chunk after each batch of bodies that had some
 *
 * Events come before bodies so that an importer checks every hash chain before it writes a single
 * body; it commits the events only once every body they refer to is stored. An increment
 * (`since` > 0) holds the events after position `since` and every body those events refer to.
 */
export const ARCHIVE_FORMAT = 'state-ledger-archive';
export const ARCHIVE_FORMAT_VERSION = 1;

export const MANIFEST_ENTRY = 'manifest.json';
export const BLOB_ENTRY_PREFIX = 'blobs/';
export const EVENTS_PER_CHUNK = 1000;

export const eventsEntryName = (chunk: number): string => `events/${String(chunk).padStart(6, '0')}.ndjson`;
export const EVENTS_ENTRY = /^events\/(\d{6,})\.ndjson$/;
export const absentEntryName = (chunk: number): string => `absent-blobs/${String(chunk).padStart(6, '0')}.ndjson`;
export const ABSENT_ENTRY = /^absent-blobs\/(\d{6,})\.ndjson$/;

/** The event types whose data names a body (blob_key, sha256, size): what an archive must carry. */
export const BODY_EVENT_TYPES: readonly string[] = ['StatePushed', 'StateRolledBack'];

const nonNegative = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'NonNegativeInteger');
const positive = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n > 0, 'PositiveInteger');
const hex64 = t.refinement(t.string, (s) => /^[0-9a-f]{64}$/.test(s), 'Sha256Hex');

export const ArchiveManifestCodec = t.type({
  format: t.literal(ARCHIVE_FORMAT),
  format_version: t.literal(ARCHIVE_FORMAT_VERSION),
  /** The state-ledger version that wrote it. */
  written_by: t.string,
  created_at: t.string,
  /** 0: the whole ledger; otherwise the events after this position (an increment). */
  since: nonNegative,
  /** The hash of the event at `since` in the exporting ledger (null for a whole ledger). */
  since_hash: t.union([hex64, t.null]),
  /** The last position the archive covers: every position up to it was final when exported. */
  last_position: nonNegative,
  /** How many events, and how many distinct bodies they refer to (present or listed absent). */
  events: nonNegative,
  blobs: nonNegative,
});
export type ArchiveManifest = t.TypeOf<typeof ArchiveManifestCodec>;

/** One events row exactly as stored; recorded_at with PostgreSQL's microseconds, in UTC. */
export const ArchivedEventCodec = t.type({
  position: positive,
  stream_id: t.string,
  stream_version: positive,
  type: t.string,
  data: t.unknown,
  metadata: t.unknown,
  recorded_at: t.refinement(t.string, (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(s), 'MicrosecondUtcTime'),
  hash: hex64,
  schema_version: positive,
});
export type ArchivedEvent = t.TypeOf<typeof ArchivedEventCodec>;

export type AbsentReason = 'missing' | 'pruned';
export const AbsentBlobCodec = t.type({ key: t.string, reason: t.union([t.literal('missing'), t.literal('pruned')]) });
export type AbsentBlob = t.TypeOf<typeof AbsentBlobCodec>;

/** The first field that does not fit, as a sentence. */
export const decodeOrProblem = <A>(codec: t.Decoder<unknown, A>, value: unknown): E.Either<string, A> =>
  E.mapLeft((errors: t.Errors) => {
    const first = errors[0];
    if (first === undefined) return 'it does not decode';
    const field = first.context
      .map((c) => c.key)
      .filter((k) => k !== '')
      .join('.');
    return `${field === '' ? 'the value' : `\`${field}\``} is ${JSON.stringify(first.value) ?? 'missing'}, expected ${first.context[first.context.length - 1]?.type.name ?? 'something else'}`;
  })(codec.decode(value));
