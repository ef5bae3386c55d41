import { createHash } from 'node:crypto';

/** Where every stream's chain starts. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
};

/** Where a stream's chain leaves off: the next event links to this hash and is never recorded earlier. */
export interface ChainHead {
  readonly hash: string;
  readonly recordedAt: Date;
}

export const GENESIS: ChainHead = { hash: GENESIS_HASH, recordedAt: new Date(0) };

export interface ChainedFields {
  readonly stream_id: string;
  readonly stream_version: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly recorded_at: Date;
  /** Left out for schema 1, so that rows written before schema versions existed keep their hashes. */
  readonly schema_version?: number | undefined;
}

/** The schema version as the chain covers it. */
export const chainedSchemaVersion = (schemaVersion: number): number | undefined => (schemaVersion === 1 ? undefined : schemaVersion);

/** hash = sha256(previous hash bytes || canonical bytes of the event), as hex. */
export const chainHash = (previousHash: string, event: ChainedFields): string =>
  createHash('sha256').update(Buffer.from(previousHash, 'hex')).update(canonicalJson(event), 'utf8').digest('hex');
