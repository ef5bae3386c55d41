import * as t from 'io-ts';
import { isStorable } from '../events/storable-string.js';
import { decodeInput } from './codecs.js';

/** Reasons are recorded in the ledger: text PostgreSQL can store, not empty, at most this long. */
const MAX_REASON = 1000;

interface ReasonBrand {
  readonly Reason: unique symbol;
}
const Reason = t.brand(t.string, (s): s is t.Branded<string, ReasonBrand> => s.trim().length > 0 && s.length <= MAX_REASON && isStorable(s), 'Reason');

/** POST /states/:name/versions/:version/pin. */
export const PinBody = t.type({ reason: Reason });

export const decodePinBody = decodeInput(
  PinBody,
  'invalid_pin',
  { reason: `non-empty text saying why (at most ${MAX_REASON} characters)` },
  'the body must be a JSON object: {"reason": "<why this version must be kept>"}',
);
