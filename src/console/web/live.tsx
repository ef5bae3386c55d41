import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { LedgerEvent } from './api.js';

type Listener = (event: LedgerEvent) => void;

interface Live {
  readonly subscribe: (listener: Listener) => () => void;
  readonly connected: boolean;
}

const LiveContext = createContext<Live>({ subscribe: () => () => undefined, connected: false });

/**
 * One server-sent event stream (GET /events/stream) for the whole console, shared by every
 * component that follows it. EventSource reconnects by itself and resumes after the last id.
 */
export const LiveEvents = ({ children }: { readonly children: ComponentChildren }) => {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const source = new EventSource('/events/stream');
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    source.onmessage = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as LedgerEvent;
      for (const listener of listeners.current) listener(event);
    };
    return () => source.close();
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
