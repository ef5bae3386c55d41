import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

/** An API answer for a component: loading, the value, or the error's sentence. */
export type Loaded<T> = { readonly kind: 'loading' } | { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'failed'; readonly status: number; readonly message: string };

/**
 * GET `path` (null: nothing yet). A new path shows "loading"; a new `refresh` fetches the same
 * path again and keeps showing the old answer until the new one arrives, so live updates never
 * make the page jump. An answer is shown only if no later request's answer was shown already: a
 * refresh never throws away the answer in flight (under steady events it would never show one).
 */
export const useApi = <T,>(path: string | null, refresh = 0): Loaded<T> => {
  const [loaded, setLoaded] = useState<Loaded<T>>({ kind: 'loading' });
  const [shownPath, setShownPath] = useState(path);
  const requests = useRef({ path, sent: 0, shown: 0 });
  if (shownPath !== path) {
    setShownPath(path);
    setLoaded({ kind: 'loading' });
  }
  // Sent as the page is drawn, not a frame later as useEffect would.
  useLayoutEffect(() => {
    if (path === null) return;
    const at = requests.current;
    if (at.path !== path) Object.assign(at, { path, shown: at.sent });
    const number = ++at.sent;
    const show = (answer: Loaded<T>) => {
      if (at.path !== path || number <= at.shown) return;
      at.shown = number;
      setLoaded(answer);
    };
    api<T>(path)
      .then((value) => show({ kind: 'ok', value }))
      .catch((error: { status?: number; message: string }) => show({ kind: 'failed', status: error.status ?? 0, message: error.message }));
  }, [path, refresh]);
  useEffect(() => () => void (requests.current.path = null), []);
  return loaded;
};
