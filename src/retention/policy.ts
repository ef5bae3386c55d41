import * as E from 'fp-ts/lib/Either.js';
import { parseGlobPolicy, policyFor, type GlobPolicy } from '../policies/glob-policy.js';
import type { KeepRule } from '../projections/queries.js';

/**
 * RETENTION: what each state keeps of its version history, per glob (src/policies/glob-policy.ts):
 * `RETENTION=50+90d,prod/**=off,team-a/*=10`. A value is `off` (keep everything), a count `N`
 * (the last N versions), an age `Dd` (versions younger than D days), or both `N+Dd`. A version is
 * kept if any condition keeps it; the current version and pinned versions are always kept.
 */
export interface RetentionRule extends KeepRule {
  /** The rule as written, with its glob (`team-a/*=10`): recorded in each VersionPruned event. */
  readonly text: string;
}

/** null: `off`. */
export type Retention = GlobPolicy<RetentionRule | null>;

const DAY = 86400;
const MAX_DAYS = 100 * 366;
const MAX_COUNT = 2 ** 31 - 1;

/** One value: `off`, `N`, `Dd` or `N+Dd` (in that order). */
export const parseRetentionValue = (raw: string): E.Either<string, RetentionRule | null> => {
  if (raw === 'off') return E.right(null);
  const match = /^(?:([1-9]\d{0,9}))?(?:\+?([1-9]\d{0,5})d)?$/.exec(raw);
  const count = match?.[1] === undefined ? null : Number(match[1]);
  const days = match?.[2] === undefined ? null : Number(match[2]);
  const plus = raw.includes('+');
  if (match === null || (count === null && days === null) || (plus && (count === null || days === null)) || (!plus && count !== null && days !== null)) {
    return E.left('expected off, a number of versions (10), an age in days (90d), or both (50+90d)');
  }
  if ((count ?? 0) > MAX_COUNT || (days ?? 0) > MAX_DAYS) return E.left(`at most ${MAX_COUNT} versions and ${MAX_DAYS} days`);
  return E.right({ keepLast: count, keepSeconds: days === null ? null : days * DAY, text: raw });
};

/** Parses RETENTION; each rule's text names its glob. */
export const parseRetention = (text: string): E.Either<string, Retention> =>
  E.map((policy: GlobPolicy<RetentionRule | null>): Retention => ({
    rules: policy.rules.map(({ glob, value }) => ({ glob, value: value === null ? null : { ...value, text: `${glob}=${value.text}` } })),
    fallback: policy.fallback,
  }))(parseGlobPolicy(text, parseRetentionValue));

/** The rule for one state (undefined or null: keep everything). */
export const retentionFor = (retention: Retention, name: string): RetentionRule | null => policyFor(retention, name) ?? null;
