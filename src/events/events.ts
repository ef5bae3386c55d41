import * as t from 'io-ts';
import { LockInfoCodec } from './lock-info.js';

/**
 * The ledger's vocabulary. Stored type names are the keys of `eventDataCodecs`;
 * they are part of the database contract and never renamed.
 */
const StateLockedData = t.type({ lock: LockInfoCodec });
const StateUnlockedData = t.type({ lock_id: t.string });
const LockForceReleasedData = t.type({ lock: LockInfoCodec });
const StatePushedData = t.type({
  version: t.number,
  blob_key: t.string,
  sha256: t.string,
  md5: t.string,
  size: t.number,
  serial: t.number,
  lineage: t.string,
  terraform_version: t.union([t.string, t.null]),
  encrypted: t.boolean,
  lock_id: t.union([t.string, t.null]),
});
const StateDeletedData = t.type({ version: t.number });

export const eventDataCodecs = {
  StateLocked: StateLockedData,
  StateUnlocked: StateUnlockedData,
  LockForceReleased: LockForceReleasedData,
  StatePushed: StatePushedData,
  StateDeleted: StateDeletedData,
} as const;

type Codecs = typeof eventDataCodecs;
export type StateEventType = keyof Codecs;
export type StateEvent = {
  [K in StateEventType]: { type: K; data: t.TypeOf<Codecs[K]> };
}[StateEventType];
export type EventOf<K extends StateEventType> = Extract<StateEvent, { type: K }>;
export type StatePushed = EventOf<'StatePushed'>['data'];

/** Who caused an event and through which request: the audit trail's raw material. */
export const EventMetadataCodec = t.type({
  actor: t.string,
  remote_address: t.union([t.string, t.null]),
  user_agent: t.union([t.string, t.null]),
  request_id: t.string,
});
export type EventMetadata = t.TypeOf<typeof EventMetadataCodec>;

/** An event as the ledger holds it. */
export interface RecordedEvent {
  readonly position: number;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly event: StateEvent;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

export const isStateEventType = (type: string): type is StateEventType =>
  Object.prototype.hasOwnProperty.call(eventDataCodecs, type);
