import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/** An API answer for a component: loading, the value, or the error's sentence. */
export type Loaded<T> = { readonly kind: 'loading' } | { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'failed'; readonly status: number; readonly message: string };

export const useApi = <T,>(path: string | null): Loaded<T> => {
  const [loaded, setLoaded] = useState<Loaded<T>>({ kind: 'loading' });
  useEffect(() => {
    if (path === null) return;
    let current = true;
    setLoaded({ kind: 'loading' });
    api<T>(path)
      .then((value) => current && setLoaded({ kind: 'ok', value }))
      .catch((error: { status?: number; message: string }) => current && setLoaded({ kind: 'failed', status: error.status ?? 0, message: error.message }));
    return () => {
      current = false;
    };
  }, [path]);
  return loaded;
};
