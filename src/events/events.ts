import * as t from 'io-ts';
import type { AccessEvent } from './access-events.js';
import { LockInfoCodec } from './lock-info.js';

/**
 * The ledger's vocabulary. Stored type names are the keys of `eventDataCodecs`;
 * they are part of the database contract and never renamed.
 */

const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null]);

/** A stored body: where its bytes are and what the edge read from it. */
const BodyFields = t.type({
  blob_key: t.string,
  sha256: t.string,
  /** Base64 MD5, computed only when the client sent Content-MD5 to check it (null otherwise). */
  md5: nullable(t.string),
  size: t.number,
  serial: t.number,
  lineage: t.string,
  terraform_version: nullable(t.string),
  encrypted: t.boolean,
  /** Entries in `resources` and keys in `outputs`; null for an encrypted body. */
  resource_count: nullable(t.number),
  output_count: nullable(t.number),
});

/** A new version and the lock it was written under (with that lock's Operation and Who). */
const VersionFields = t.type({
  version: t.number,
  lock_id: nullable(t.string),
  lock_operation: nullable(t.string),
  lock_who: nullable(t.string),
  /** A write by the holder renews the lock's lease: its new end (RFC 3339), null when the lock has no lease. */
  lease_until: nullable(t.string),
});

/** Who took a lock: only that identity may write under it or release it as its own. */
export const LockTakerCodec = t.type({ actor: t.string, subject: nullable(t.string) });
export type LockTaker = t.TypeOf<typeof LockTakerCodec>;

/**
 * A lock's lease (LOCK_TTL): past `until` the lock may be taken over by another lock, until then
 * nobody else may; the holder's writes renew it by `seconds`. Expiry breaks nothing by itself.
 */
export const LeaseCodec = t.type({ seconds: t.number, until: t.string });
export type Lease = t.TypeOf<typeof LeaseCodec>;

/** taken_by is null for locks recorded before identities (see upcasters.ts): any caller with the ID counts as their holder. */
const StateLockedData = t.type({ lock: LockInfoCodec, taken_by: nullable(LockTakerCodec), lease: nullable(LeaseCodec) });
const StateUnlockedData = t.type({ lock_id: t.string });
/** reason: what the administrator gave (DELETE /states/NAME/lock); null for a protocol force-unlock. */
const LockForceReleasedData = t.type({ lock: LockInfoCodec, reason: nullable(t.string) });
/** A lock whose lease had ended, taken over by another lock (the StateLocked that follows it). */
const LockExpiredData = t.type({ lock: LockInfoCodec, taken_by: nullable(LockTakerCodec), lease_until: t.string });
const StatePushedData = t.intersection([VersionFields, BodyFields]);
const StateDeletedData = t.type({ version: t.number, lock_id: nullable(t.string) });
const StateRolledBackData = t.intersection([
  VersionFields,
  BodyFields,
  t.type({
    /** The head before the rollback (null when the state was deleted). */
    from_version: nullable(t.number),
    /** The version whose content was restored. */
    to_version: t.number,
    reason: t.string,
  }),
]);

/** An administrator keeps a version from retention, saying why (the actor is in the metadata). */
const VersionPinnedData = t.type({ version: t.number, reason: t.string });
const VersionUnpinnedData = t.type({ version: t.number });
/**
 * A retention policy removed a version's body: its events and metadata stay. blob_key: the body
 * the version referred to (deleted once no kept version of any state refers to it); policy: the
 * RETENTION rule that pruned it, as written (`team-a/*=10`).
 */
const VersionPrunedData = t.type({ version: t.number, blob_key: t.string, policy: t.string });

export const eventDataCodecs = {
  StateLocked: StateLockedData,
  StateUnlocked: StateUnlockedData,
  LockForceReleased: LockForceReleasedData,
  LockExpired: LockExpiredData,
  StatePushed: StatePushedData,
  StateDeleted: StateDeletedData,
  StateRolledBack: StateRolledBackData,
  VersionPinned: VersionPinnedData,
  VersionUnpinned: VersionUnpinnedData,
  VersionPruned: VersionPrunedData,
} as const;

type Codecs = typeof eventDataCodecs;
export type StateEventType = keyof Codecs;
export type StateEvent = {
  [K in StateEventType]: { type: K; data: t.TypeOf<Codecs[K]> };
}[StateEventType];
export type EventOf<K extends StateEventType> = Extract<StateEvent, { type: K }>;
export type BodyFields = t.TypeOf<typeof BodyFields>;

/** Every event the ledger holds: a state's, or a change to access. */
export type LedgerEvent = StateEvent | AccessEvent;

/**
 * Who caused an event and through which request: the audit trail's raw material. The actor is
 * `user:NAME`, `token:NAME`, `oidc:ISSUER` (with the claims that identify the run), `cert:CN`,
 * `cli:OS-USER` or `system`.
 */
export const EventMetadataCodec = t.intersection([
  t.type({
    actor: t.string,
    remote_address: nullable(t.string),
    user_agent: nullable(t.string),
    request_id: t.string,
  }),
  t.partial({ claims: t.record(t.string, t.string) }),
]);
export type EventMetadata = t.TypeOf<typeof EventMetadataCodec>;

/** What a projection may use of an event: not its position or hash, which are known only once it is stored. */
export interface ProjectableEvent<Ev extends LedgerEvent = LedgerEvent> {
  readonly streamId: string;
  readonly event: Ev;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

/** An event as the ledger holds it. */
export interface RecordedEvent<Ev extends LedgerEvent = LedgerEvent> {
  readonly position: number;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly event: Ev;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** sha256 over the previous event's hash and this event's canonical bytes (hex). */
  readonly hash: string;
}

export const isStateEventType = (type: string): type is StateEventType =>
  Object.prototype.hasOwnProperty.call(eventDataCodecs, type);

export const isStateEvent = (event: LedgerEvent): event is StateEvent => isStateEventType(event.type);

/** The lock an event was written under or acts on, for the audit trail (null for access events). */
export const lockIdOf = (event: LedgerEvent): string | null => {
  if (!isStateEvent(event)) return null;
  switch (event.type) {
    case 'StateLocked':
    case 'LockForceReleased':
    case 'LockExpired':
      return event.data.lock.ID;
    case 'VersionPinned':
    case 'VersionUnpinned':
    case 'VersionPruned':
      return null;
    default:
      return event.data.lock_id;
  }
};
