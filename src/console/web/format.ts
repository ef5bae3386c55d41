/** Times in the browser's zone, sizes in binary units, durations in words. */

const two = (n: number) => String(n).padStart(2, '0');

/**
 * A time in the browser's zone, as 2026-12-07 18:35:12: read alike in every locale, and without
 * Intl, whose first formatter costs a new tab 50–130 ms on a small machine.
 */
export const localTime = (iso: string | null): string => {
  if (iso === null) return '–';
  const t = new Date(iso);
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
};

/** 12,345: thousands grouped, without Intl (see localTime). */
export const grouped = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "1 state", "1,000 states". */
export const counted = (n: number, noun: string): string => `${grouped(n)} ${noun}${n === 1 ? '' : 's'}`;

export const bytes = (n: number | null): string => {
  if (n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
};

export const age = (seconds: number): string => {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
};
