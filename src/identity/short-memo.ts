/**
 * Remembers the answers of a lookup for a moment, so that the many requests of one Terraform run
 * (or a busy pipeline) cost one database read per moment instead of one each. A change made in
 * this process clears it at once (`clear`); other processes see it when their entries expire.
 * Concurrent lookups of one key share one read; a failed read is not remembered.
 */
export const shortMemo = <A>(ttlMs: number, maxEntries = 10_000) => {
  const entries = new Map<string, { readonly value: Promise<A>; readonly until: number }>();
  return {
    get: (key: string, load: () => Promise<A>): Promise<A> => {
      const now = Date.now();
      const entry = entries.get(key);
      if (entry !== undefined && entry.until > now) return entry.value;
      if (entries.size >= maxEntries) entries.clear();
      const value = load();
      entries.set(key, { value, until: now + ttlMs });
      value.catch(() => entries.delete(key));
      return value;
    },
    clear: (): void => entries.clear(),
  };
};
