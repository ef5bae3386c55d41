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
  /** leaseSeconds: the lease LOCK_TTL gives this state's locks; absent, the lock has none. */
  | { readonly type: 'LockState'; readonly lock: LockInfo; readonly leaseSeconds?: number }
  /**
   * presented: the LockInfo the unlock request carries; null for Terraform's force-unlock (no
   * body). An unlock that does not carry the holder's own LockInfo, or that comes from another
   * identity than the one that took the lock (anyone who may read can see the LockInfo), releases
   * someone else's lock: only callers that may force (mayForce) can do that.
   */
  | { readonly type: 'UnlockState'; readonly presented: LockInfo | null; readonly mayForce: boolean }
  /** An administrator releasing whatever lock is held, saying why. */
  | { readonly type: 'ReleaseLock'; readonly reason: string; readonly expectedId: string | null }
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
    }
  /**
   * An administrator keeping a version from retention. name: the state (for the answer's
   * sentence); target: the version as the read model has it; prunedSeen: the stream's prune count
   * when the target was read after it (LedgerState.pruned).
   */
  | { readonly type: 'PinVersion'; readonly name: string; readonly target: VersionFacts | null; readonly version: number; readonly reason: string; readonly prunedSeen: number }
  | { readonly type: 'UnpinVersion'; readonly version: number }
  /**
   * Prune these versions' bodies under `policy` (as written in RETENTION). The candidates come from
   * the read model, read after the stream's prune count `prunedSeen`; the decider keeps the
   * current and the pinned versions whatever the candidates say.
   */
  | { readonly type: 'PruneVersions'; readonly name: string; readonly candidates: readonly PruneCandidate[]; readonly policy: string; readonly prunedSeen: number };

/** What the read model says of one version, read by the edge for the decider (which keeps no set of pruned versions). */
export interface VersionFacts {
  readonly version: number;
  /** When and by which policy its body was pruned; null while it is kept. */
  readonly pruned: { readonly at: string; readonly policy: string } | null;
}

/** A version the edge found prunable under a policy, with the body it refers to. */
export interface PruneCandidate {
  readonly version: number;
  readonly blobKey: string;
}

/**
 * The identity a lock is held by, as the decider compares it: the actor, and for OIDC the subject.
 * Undefined for the command line, which runs on the database itself and is trusted with any lock ID.
 */
export const callerOf = (metadata: CommandMetadata): LockTaker | undefined =>
  metadata.actor.startsWith('cli:') ? undefined : { actor: metadata.actor, subject: metadata.claims?.sub ?? null };

/** What the decider knows of the request besides the command: who asks, and when (it never reads a clock). */
export interface DecisionContext {
  readonly caller: LockTaker | undefined;
  readonly now: Date;
}

/** Who asks, from where, and when. */
export interface CommandMetadata {
  readonly actor: string;
  readonly remoteAddress: string | null;
  readonly userAgent: string | null;
  readonly requestId: string;
  /** For an OIDC caller: the claims that identify the run (subject, project, ref, pipeline). */
  readonly claims?: Readonly<Record<string, string>>;
  readonly now: Date;
}
