import { parseInstant } from '../instant.js';

/** `30d`, `12h`, `90m`, `2w` from now, or an RFC 3339 time; undefined when neither, or not in the future. */
export const parseExpiry = (text: string, now: Date): Date | undefined => {
  const relative = /^([1-9]\d{0,5})([mhdw])$/.exec(text.trim());
  const minutes = { m: 1, h: 60, d: 1440, w: 10080 } as const;
  const at = relative === null ? parseInstant(text.trim()) : new Date(now.getTime() + Number(relative[1]) * minutes[relative[2] as keyof typeof minutes] * 60_000);
  return at !== undefined && at.getTime() > now.getTime() && at.getTime() < LATEST ? at : undefined;
};

/** PostgreSQL and RFC 3339 both end at year 9999. */
export const LATEST = Date.UTC(10000, 0, 1);

export const EXPIRY_FORMS = 'a duration such as 30d, 12h, 90m or 2w, or a future RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000';
