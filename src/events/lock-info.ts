import * as t from 'io-ts';
import { StorableString } from './storable-string.js';

/**
 * Terraform's statemgr.LockInfo as both clients marshal it. Only ID is required;
 * the rest is echoed back to whoever finds the state locked.
 */
const text = StorableString as unknown as t.Type<string, string, unknown>;

export const LockInfoCodec = t.exact(
  t.intersection([
    t.type({ ID: text }),
    t.partial({
      Operation: text,
      Info: text,
      Who: text,
      Version: text,
      Created: text,
      Path: text,
    }),
  ]),
);
export type LockInfo = t.TypeOf<typeof LockInfoCodec>;
