import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, type LedgerEvent } from './api.js';

type Listener = (event: LedgerEvent) => void;

interface Live {
  readonly subscribe: (listener: Listener) => () => void;
  readonly connected: boolean;
}

const LiveContext = createContext<Live>({ subscribe: () => () => undefined, connected: false });

/** How long to wait before opening the stream again after the server refused a reconnection. */
const REOPEN_MS = 5000;

/**
 * One server-sent event stream (GET /events/stream) for the whole console, shared by every
 * component that follows it. EventSource reconnects by itself after a dropped connection and
 * resumes after the last id; when the server refuses a reconnection (an ended session, a proxy's
 * 502) it gives up for good, so the stream is opened again here, after the last id received,
 * unless the session has ended (then `onSessionEnded`, back to the sign-in).
 */
export const LiveEvents = ({ children, onSessionEnded }: { readonly children: ComponentChildren; readonly onSessionEnded: () => void }) => {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);
  const ended = useRef(onSessionEnded);
  ended.current = onSessionEnded;
  useEffect(() => {
    let source: EventSource | undefined;
    let lastId: string | undefined;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      source = new EventSource(lastId === undefined ? '/events/stream' : `/events/stream?after=${encodeURIComponent(lastId)}`);
      source.onopen = () => setConnected(true);
      source.onerror = () => {
        setConnected(false);
        if (source?.readyState !== EventSource.CLOSED) return;
        reopen = setTimeout(() => {
          api('/ui/session')
            .then(open)
            .catch((error: unknown) => (error instanceof ApiError && error.status === 401 ? ended.current() : open()));
        }, REOPEN_MS);
      };
      source.onmessage = (message: MessageEvent<string>) => {
        lastId = message.lastEventId;
        const event = JSON.parse(message.data) as LedgerEvent;
        for (const listener of listeners.current) listener(event);
      };
    };
    open();
    return () => {
      if (reopen !== undefined) clearTimeout(reopen);
      source?.close();
    };
  }, []);
  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => void listeners.current.delete(listener);
  }, []);
  const live = useMemo(() => ({ subscribe, connected }), [subscribe, connected]);
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
};

/** Whether the live stream is open (for the header's indicator). */
export const useLiveConnected = (): boolean => useContext(LiveContext).connected;

/**
 * A number that grows with each live event `matches` accepts (batched per 250 ms, so a burst of
 * events refetches once): pass it to useApi as `refresh`.
 */
export const useLiveRefresh = (matches: (event: LedgerEvent) => boolean): number => {
  const { subscribe } = useContext(LiveContext);
  const [count, setCount] = useState(0);
  const accepts = useRef(matches);
  accepts.current = matches;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const unsubscribe = subscribe((event) => {
      if (!accepts.current(event) || timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        setCount((n) => n + 1);
      }, 250);
    });
    return () => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [subscribe]);
  return count;
};

/** Each live event `matches` accepts, newest first, at most `keep` of them (the activity feed). */
export const useLiveFeed = (keep: number, matches: (event: LedgerEvent) => boolean): readonly LedgerEvent[] => {
  const { subscribe } = useContext(LiveContext);
  const [events, setEvents] = useState<readonly LedgerEvent[]>([]);
  const accepts = useRef(matches);
  accepts.current = matches;
  useEffect(() => subscribe((event) => accepts.current(event) && setEvents((shown) => [event, ...shown].slice(0, keep))), [subscribe, keep]);
  return events;
};
