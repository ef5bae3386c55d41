import * as t from 'io-ts';

/**
 * Terraform's statemgr.LockInfo as both clients marshal it. Only ID is required;
 * the rest is echoed back to whoever finds the state locked.
 */
export const LockInfoCodec = t.exact(
  t.intersection([
    t.type({ ID: t.string }),
    t.partial({
      Operation: t.string,
      Info: t.string,
      Who: t.string,
      Version: t.string,
      Created: t.string,
      Path: t.string,
    }),
  ]),
);
export type LockInfo = t.TypeOf<typeof LockInfoCodec>;
