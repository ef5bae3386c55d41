import { useEffect, useState } from 'preact/hooks';
import { LOCKS } from './api-paths.js';
import type { HeldLock } from './api.js';
import { useApi, type Loaded } from './use-api.js';

interface Lease {
  readonly lease_until: string | null;
  readonly expired: boolean;
}

/** setTimeout's longest wait (about 24.8 days); a longer lease is looked at again then. */
const LONGEST_WAIT_MS = 2 ** 31 - 1;
/** After a lease's end, so the server (whose clock decides) agrees; asked again this often until it does. */
const SETTLE_MS = 1000;

/**
 * useApi for answers holding locks: fetched again when the first lease still running runs out,
 * since no event marks a lease's end, so an expired lock turns red on time.
 */
export const useApiWithLeases = <T,>(path: string, refresh: number, leasesOf: (value: T) => readonly Lease[]): Loaded<T> => {
  const [ended, setEnded] = useState(0);
  const loaded = useApi<T>(path, refresh + ended);
  const running = loaded.kind === 'ok' ? leasesOf(loaded.value).filter((lease) => !lease.expired && lease.lease_until !== null) : [];
  const next = Math.min(...running.map((lease) => Date.parse(lease.lease_until!)));
  useEffect(() => {
    if (!Number.isFinite(next)) return;
    const timer = setTimeout(() => setEnded((n) => n + 1), Math.min(Math.max(next - Date.now(), 0) + SETTLE_MS, LONGEST_WAIT_MS));
    return () => clearTimeout(timer);
  }, [next, loaded]);
  return loaded;
};

/** Every held lock (GET /locks), kept current by `refresh` and by their leases' ends. */
export const useHeldLocks = (refresh: number): Loaded<{ locks: HeldLock[] }> => useApiWithLeases<{ locks: HeldLock[] }>(LOCKS, refresh, (value) => value.locks);
