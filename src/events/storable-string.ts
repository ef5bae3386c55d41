import * as t from 'io-ts';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** PostgreSQL's jsonb refuses NUL and unpaired surrogates: such text is refused at the edge instead. */
export const isStorable = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s);

interface StorableBrand {
  readonly Storable: unique symbol;
}

/** A string the ledger can store (no NUL, no unpaired surrogate). */
export const StorableString = t.brand(t.string, (s): s is t.Branded<string, StorableBrand> => isStorable(s), 'Storable');
