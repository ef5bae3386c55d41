import { useEffect, useRef, useState } from 'preact/hooks';
import { send, type LockInfo } from './api.js';
import { statePath } from './api-paths.js';
import { Time } from './time.js';

/**
 * An administrator's release of someone else's lock (DELETE /states/NAME/lock): it says whose run
 * it may break, asks why, and releases only the lock shown (its ID), never one taken since.
 */
export const ForceUnlock = ({ state, lock, onReleased }: { readonly state: string; readonly lock: LockInfo; readonly onReleased: () => void }) => {
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  // Keyboard users land in the reason when the form opens, and back on its button when it closes.
  const trigger = useRef<HTMLButtonElement>(null);
  const reasonField = useRef<HTMLTextAreaElement>(null);
  const wasOpen = useRef(false);
  useEffect(() => {
    if (open) reasonField.current?.focus();
    else if (wasOpen.current) trigger.current?.focus();
    wasOpen.current = open;
  }, [open]);
  if (!open) return <button type="button" class="danger" ref={trigger} onClick={() => setOpen(true)}>Force-unlock…</button>;
  const release = async (event: SubmitEvent) => {
    event.preventDefault();
    const reason = String(new FormData(event.currentTarget as HTMLFormElement).get('reason')).trim();
    setBusy(true);
    try {
      await send(`${statePath(state)}/lock`, 'DELETE', { reason, ID: lock.ID });
      setOpen(false);
      onReleased();
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="dangerous" onSubmit={release} aria-label={`force-unlock ${state}`}>
      <p>
        <strong>This may break someone's work.</strong> The lock is held by <strong>{lock.Who ?? 'an unnamed client'}</strong> for{' '}
        <strong>{lock.Operation ?? 'an unnamed operation'}</strong>, taken by {lock.acquired_by} at <Time iso={lock.acquired_at} />
        {lock.expired ? ' (its lease has expired)' : ''}. If that run is still going, its next push or unlock is refused and its changes may be
        recorded only in part. Release it only when that run has stopped.
      </p>
      <label>
        Reason (kept in the audit trail)
        <textarea ref={reasonField} name="reason" required minLength={1} maxLength={1000} rows={2} placeholder="CI runner 7 crashed during apply; checked with its owner" />
      </label>
      {problem !== undefined && <p role="alert" class="error">{problem}</p>}
      <div class="actions">
        <button type="submit" class="danger" disabled={busy}>Release the lock</button>
        <button type="button" onClick={() => setOpen(false)}>Cancel</button>
      </div>
    </form>
  );
};
