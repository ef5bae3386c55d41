import type { LockInfo } from '../events/lock-info.js';

/** Why the decider refused a command. Each maps to one HTTP status in src/http/errors.ts. */
export type DomainError =
  /** Someone else holds the lock (push, delete, rollback, or lock with another ID). */
  | { readonly type: 'LockHeld'; readonly holder: LockInfo }
  /** Unlock with an ID that is not the holder's. */
  | { readonly type: 'LockMismatch'; readonly holder: LockInfo }
  /** A force-unlock (no body, or only the holder's ID) by a caller without the admin role. */
  | { readonly type: 'ForceUnlockForbidden'; readonly holder: LockInfo }
  /** A write names a lock that is no longer held: it was force-released, the write is unsafe. */
  | { readonly type: 'LockLost'; readonly lockId: string }
  /** Rollback to a version that was never written. */
  | { readonly type: 'VersionNotFound'; readonly version: number }
  /** Rollback to another lineage (another state's history) without force. */
  | { readonly type: 'LineageMismatch'; readonly head: string; readonly target: string }
  /** The restored version would need a serial above the largest integer Terraform's JSON numbers hold exactly. */
  | { readonly type: 'SerialExhausted'; readonly serial: number }
  /** The head moved while the rollback's body was prepared: prepare it again. */
  | { readonly type: 'RollbackStale'; readonly expectedSerial: number }
  /** The version's body was removed by a retention policy: its metadata remains, its bytes do not (410). */
  | { readonly type: 'VersionPruned'; readonly name: string; readonly version: number; readonly prunedAt: string; readonly policy: string }
  /** Another prune ran since the facts this command carries were read: read them again. */
  | { readonly type: 'PruneStale'; readonly name: string };

/** The stream kept moving under us for every attempt. */
export interface ConcurrencyConflict {
  readonly type: 'ConcurrencyConflict';
  readonly streamId: string;
  readonly attempts: number;
}

export type CommandError = DomainError | ConcurrencyConflict;
