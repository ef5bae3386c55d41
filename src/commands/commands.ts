import type { LockTaker } from '../events/events.js';
import type { LockInfo } from '../events/lock-info.js';

/** What the ledger reads from a state body; the rest of the document is never interpreted. */
export interface BodySummary {
  readonly serial: number;
  readonly lineage: string;
  readonly terraformVersion: string | null;
  /** An OpenTofu-encrypted state: its payload is stored byte for byte, never parsed. */
  readonly encrypted: boolean;
  /** Entries in `resources` and keys in `outputs`; null when encrypted. */
  readonly resourceCount: number | null;
  readonly outputCount: number | null;
}

/** A state body already written to the blob store, described by what the edge measured. */
export interface StoredBody extends BodySummary {
  readonly blobKey: string;
  readonly sha256: string;
  readonly md5: string | null;
  readonly size: number;
}

/** The version a rollback restores, as the version history records it. */
export interface RollbackTarget {
  readonly version: number;
  readonly serial: number;
  readonly lineage: string;
  readonly encrypted: boolean;
}

export type Command =
  | { readonly type: 'LockState'; readonly lock: LockInfo }
  /**
   * presented: the LockInfo the unlock request carries; null for Terraform's force-unlock (no
   * body). An unlock that does not carry the holder's own LockInfo, or that comes from another
   * identity than the one that took the lock (anyone who may read can see the LockInfo), releases
   * someone else's lock: only callers that may force (mayForce) can do that.
   */
  | { readonly type: 'UnlockState'; readonly presented: LockInfo | null; readonly mayForce: boolean }
  | { readonly type: 'PushState'; readonly lockId: string | null; readonly body: StoredBody }
  | { readonly type: 'DeleteState'; readonly lockId: string | null }
  | {
      readonly type: 'RollbackState';
      readonly lockId: string | null;
      readonly target: RollbackTarget;
      /** The target's content, with the serial the decider asks for (see rollbackSerial). */
      readonly body: StoredBody;
      readonly reason: string;
      /** Restore even when the target's lineage differs from the head's. */
      readonly force: boolean;
    };

/**
 * The identity a lock is held by, as the decider compares it: the actor, and for OIDC the subject.
 * Undefined for the command line, which runs on the database itself and is trusted with any lock ID.
 */
export const callerOf = (metadata: CommandMetadata): LockTaker | undefined =>
  metadata.actor.startsWith('cli:') ? undefined : { actor: metadata.actor, subject: metadata.claims?.sub ?? null };

/** Who asks, from where, and when: the decider never reads a clock. */
export interface CommandMetadata {
  readonly actor: string;
  readonly remoteAddress: string | null;
  readonly userAgent: string | null;
  readonly requestId: string;
  /** For an OIDC caller: the claims that identify the run (subject, project, ref, pipeline). */
  readonly claims?: Readonly<Record<string, string>>;
  readonly now: Date;
}
