import { useEffect, useState } from 'preact/hooks';
import { api, type LedgerEvent } from './api.js';
import { isStateEvent } from './event-kinds.js';
import { stateHref } from './routes.js';
import { useLiveFeed } from './live.js';
import { Time } from './time.js';

const SHOWN = 15;

/** The latest events before the page opened: the feed's present position, then the page before it. */
const recentEvents = async (): Promise<{ events: LedgerEvent[] }> => {
  const { next } = await api<{ next: number }>('/events?after=now');
  return api<{ events: LedgerEvent[] }>(`/events?after=${Math.max(0, next - SHOWN)}&limit=${SHOWN}`);
};

const what = (event: LedgerEvent): string => {
  const lock = event.data.lock as { Who?: string; Operation?: string } | undefined;
  switch (event.type) {
    case 'StateLocked':
      return `locked${lock?.Who === undefined ? '' : ` by ${lock.Who}`}${lock?.Operation === undefined ? '' : ` for ${lock.Operation}`}`;
    case 'StateUnlocked':
      return 'unlocked';
    case 'LockForceReleased':
      return `lock of ${lock?.Who ?? 'someone'} force-released${typeof event.data.reason === 'string' ? `: ${event.data.reason}` : ''}`;
    case 'LockExpired':
      return `lease of ${lock?.Who ?? 'someone'} expired`;
    case 'StatePushed':
      return `version ${String(event.data.version)} pushed`;
    case 'StateRolledBack':
      return `rolled back to version ${String(event.data.to_version)} (as version ${String(event.data.version)})`;
    case 'StateDeleted':
      return 'deleted';
    default:
      return event.type;
  }
};

/**
 * What happens across the states the user may read, newest first: the latest events when the page
 * opened, then each new one as the live stream brings it. Rows are added at the top and the list
 * keeps its length, so nothing below it moves.
 */
export const Activity = () => {
  const live = useLiveFeed(SHOWN, isStateEvent);
  const [earlier, setEarlier] = useState<readonly LedgerEvent[] | undefined>(undefined);
  useEffect(() => {
    recentEvents()
      .then(({ events }) => setEarlier(events.filter(isStateEvent).reverse()))
      .catch(() => setEarlier([]));
  }, []);
  const seen = new Set(live.map((event) => event.position));
  const events = [...live, ...(earlier ?? []).filter((event) => !seen.has(event.position))].slice(0, SHOWN);
  return (
    <section aria-labelledby="activity-title">
      <h2 id="activity-title">Activity</h2>
      {earlier === undefined ? <p class="loading">Loading…</p> : events.length === 0 ? <p class="muted">Nothing has happened yet; locks and pushes appear here as they happen.</p> : (
        <ol class="activity" aria-label="activity">
          {events.map((event) => (
            <li key={event.position}>
              <Time iso={event.recorded_at} /> <a href={stateHref(event.state)}>{event.state}</a> {what(event)} <span class="muted">({event.actor})</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
};
