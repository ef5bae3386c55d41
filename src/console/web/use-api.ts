import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/** An API answer for a component: loading, the value, or the error's sentence. */
export type Loaded<T> = { readonly kind: 'loading' } | { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'failed'; readonly status: number; readonly message: string };

/**
 * GET `path` (null: nothing yet). A new path shows "loading"; a new `refresh` fetches the same
 * path again and keeps showing the old answer until the new one arrives, so live updates never
 * make the page jump.
 */
export const useApi = <T,>(path: string | null, refresh = 0): Loaded<T> => {
  const [loaded, setLoaded] = useState<Loaded<T>>({ kind: 'loading' });
  const [shownPath, setShownPath] = useState(path);
  if (shownPath !== path) {
    setShownPath(path);
    setLoaded({ kind: 'loading' });
  }
  useEffect(() => {
    if (path === null) return;
    let current = true;
    api<T>(path)
      .then((value) => current && setLoaded({ kind: 'ok', value }))
      .catch((error: { status?: number; message: string }) => current && setLoaded({ kind: 'failed', status: error.status ?? 0, message: error.message }));
    return () => {
      current = false;
    };
  }, [path, refresh]);
  return loaded;
};
