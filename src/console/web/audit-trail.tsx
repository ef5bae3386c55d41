import { useState } from 'preact/hooks';
import { type LedgerEvent } from './api.js';
import { auditPath } from './api-paths.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import { useApi } from './use-api.js';

/** What an event did, in a few words: its reason, version or lock, where it has one. */
const summary = (event: LedgerEvent): string => {
  const data = event.data;
  const lock = data.lock as { Who?: string; Operation?: string } | undefined;
  const parts = [
    typeof data.version === 'number' ? `version ${data.version}` : undefined,
    typeof data.to_version === 'number' ? `content of version ${data.to_version}` : undefined,
    typeof data.lock_who === 'string' ? `under the lock of ${data.lock_who}` : undefined,
    lock === undefined ? undefined : `${lock.Operation ?? 'lock'} by ${lock.Who ?? 'someone'}`,
    typeof data.reason === 'string' ? `reason: ${data.reason}` : undefined,
  ];
  return parts.filter((part) => part !== undefined).join(' · ');
};

/** Every event of the state, newest first (GET /states/NAME/events?order=newest), paged. */
export const AuditTrail = ({ name, refresh }: { readonly name: string; readonly refresh: number }) => {
  const [before, setBefore] = useState<number | null>(null);
  const page = useApi<{ events: LedgerEvent[]; next: number | null }>(auditPath(name, before), before === null ? refresh : 0);
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      {page.kind !== 'ok' ? <Pending loaded={page} /> : page.value.events.length === 0 ? <p class="muted">No events.</p> : (
        <>
          <table aria-label="audit trail">
            <thead><tr><th scope="col" class="number">#</th><th scope="col">Event</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">Details</th></tr></thead>
            <tbody>
              {page.value.events.map((event) => (
                <tr key={event.stream_version}>
                  <td class="number">{event.stream_version}</td>
                  <td>{event.type}</td>
                  <td><Time iso={event.recorded_at} /></td>
                  <td>{event.actor}</td>
                  <td title={`request ${event.request_id ?? '–'}`}>{summary(event)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            {before !== null && <button type="button" onClick={() => setBefore(null)}>Newest</button>}
            {page.value.next !== null && <button type="button" onClick={() => setBefore(page.value.next)}>Older</button>}
          </div>
        </>
      )}
    </section>
  );
};
