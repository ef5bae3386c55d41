import * as E from 'fp-ts/lib/Either.js';
import type { Test } from 'tap';
import type { Command } from '../../src/commands/commands.js';
import { decide } from '../../src/commands/decide.js';
import type { DomainError } from '../../src/commands/errors.js';
import { fold } from '../../src/commands/state.js';
import type { LockTaker, StateEvent } from '../../src/events/events.js';

/** The instant decider specs decide at, unless they say otherwise. */
export const NOW = new Date('2026-12-07T10:00:00.000Z');

/** given(events).when(command).then(events) / .thenFails(error): decider specs that read like the rules. */
export const given = (t: Test, history: StateEvent[]) => ({
  /** caller: who asks (the decider compares it with who took the lock); unset, the command line's trust. */
  when: (command: Command, caller?: LockTaker, now: Date = NOW) => {
    const decision = decide(command, fold(history), { caller, now });
    return {
      then: (expected: StateEvent[]) => t.strictSame(decision, E.right(expected)),
      thenFails: (expected: DomainError) => t.strictSame(decision, E.left(expected)),
    };
  },
});
