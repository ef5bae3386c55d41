import * as E from 'fp-ts/lib/Either.js';
import type { CommandMetadata } from '../commands/commands.js';
import type { CommandError } from '../commands/errors.js';
import { handleCommand } from '../commands/handler.js';
import { findVersionRecord, versionFacts } from '../projections/queries.js';
import type { LedgerDeps } from './deps.js';

/** A pin refused as stale (a prune ran while its facts were read) reads them again, this many times. */
const ATTEMPTS = 5;

/**
 * Pins version V of a state: retention keeps it. The decider knows the pinned versions but not the
 * pruned ones (there may be 100,000): the version's facts are read from the read model after the
 * stream's prune count, and a prune in between makes the pin stale and read again.
 */
export const pinVersion =
  (deps: Pick<LedgerDeps, 'store' | 'db' | 'commandObserver'>) =>
  async (name: string, version: number, reason: string, metadata: CommandMetadata): Promise<E.Either<CommandError, { readonly changed: boolean }>> => {
    const run = handleCommand(deps.store, deps.commandObserver);
    for (let attempt = 1; ; attempt++) {
      const { state } = await deps.store.load(name, { fresh: true });
      const entry = await findVersionRecord(deps.db, name, version);
      const target = entry === undefined ? null : versionFacts(entry);
      const outcome = await run(name, { type: 'PinVersion', name, version, target, reason, prunedSeen: state.pruned }, metadata)();
      if (E.isLeft(outcome) && outcome.left.type === 'PruneStale' && attempt < ATTEMPTS) continue;
      return E.map((handled: { events: readonly unknown[] }) => ({ changed: handled.events.length > 0 }))(outcome);
    }
  };

/** Unpins version V: retention may prune it again. Unpinning a version that is not pinned changes nothing. */
export const unpinVersion =
  (deps: Pick<LedgerDeps, 'store' | 'commandObserver'>) =>
  async (name: string, version: number, metadata: CommandMetadata): Promise<E.Either<CommandError, { readonly changed: boolean }>> =>
    E.map((handled: { events: readonly unknown[] }) => ({ changed: handled.events.length > 0 }))(
      await handleCommand(deps.store, deps.commandObserver)(name, { type: 'UnpinVersion', version }, metadata)(),
    );
