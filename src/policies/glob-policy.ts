import * as E from 'fp-ts/lib/Either.js';
import { GLOB, globMatches } from '../access/roles.js';

/**
 * A setting that may differ by state: `VALUE` for every state, `GLOB=VALUE` for the states a glob
 * matches, comma-separated, the first matching glob winning and a bare value the fallback:
 * `LOCK_TTL=2h,team-a/**=30m`.
 */
export interface GlobPolicy<T> {
  readonly rules: ReadonlyArray<{ readonly glob: string; readonly value: T }>;
  readonly fallback: T | undefined;
}

export const noPolicy: GlobPolicy<never> = { rules: [], fallback: undefined };

export const policyFor = <T>(policy: GlobPolicy<T>, name: string): T | undefined => {
  const rule = policy.rules.find((candidate) => globMatches(candidate.glob, name));
  return rule === undefined ? policy.fallback : rule.value;
};

/** Parses a policy, each value by `value`, which answers the value or what it should have been. */
export const parseGlobPolicy = <T>(text: string, value: (raw: string) => E.Either<string, T>): E.Either<string, GlobPolicy<T>> => {
  const rules: Array<{ glob: string; value: T }> = [];
  let fallback: T | undefined;
  for (const entry of text.split(',').map((part) => part.trim())) {
    const equals = entry.lastIndexOf('=');
    const glob = equals < 0 ? undefined : entry.slice(0, equals).trim();
    const parsed = value((equals < 0 ? entry : entry.slice(equals + 1)).trim());
    if (E.isLeft(parsed)) return E.left(`"${entry}": ${parsed.left}`);
    if (glob === undefined) {
      if (fallback !== undefined) return E.left(`"${entry}": only one value may apply to every state; give the others a glob (GLOB=VALUE)`);
      fallback = parsed.right;
    } else if (!GLOB.test(glob)) {
      return E.left(`"${entry}": the glob must be state-name characters with * and **`);
    } else {
      rules.push({ glob, value: parsed.right });
    }
  }
  return E.right({ rules, fallback });
};

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration as `90s`, `30m`, `2h` or `7d` (or plain seconds), in seconds, from 1 s to 366 days. */
export const parseDuration = (raw: string): E.Either<string, number> => {
  const match = /^(\d{1,9})([smhd]?)$/.exec(raw);
  const seconds = match === null ? NaN : Number(match[1]) * (UNITS[match[2] || 's'] ?? NaN);
  return seconds >= 1 && seconds <= 366 * 86400 ? E.right(seconds) : E.left('expected a duration such as 90s, 30m, 2h or 7d (at most 366d)');
};
