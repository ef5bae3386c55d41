import { type LockInfo } from './api.js';
import { lockPath } from './api-paths.js';
import { ForceUnlock } from './force-unlock.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import { useApiWithLeases } from './use-leases.js';

/** Who holds the state's lock and since when; administrators may release it. */
export const LockPanel = ({ name, admin, refresh, onChanged }: { readonly name: string; readonly admin: boolean; readonly refresh: number; readonly onChanged: () => void }) => {
  const lock = useApiWithLeases<LockInfo>(lockPath(name), refresh, (held) => [held]);
  if (lock.kind === 'failed' && lock.status === 404) return <p class="lock-panel muted" aria-label="lock">Unlocked.</p>;
  if (lock.kind !== 'ok') return <Pending loaded={lock} />;
  const held = lock.value;
  return (
    <div class={held.expired ? 'lock-panel locked stale' : 'lock-panel locked'} aria-label="lock">
      <p>
        Locked by {held.Who ?? 'someone'} ({held.Operation ?? 'no operation'}) since <Time iso={held.acquired_at} />, taken by {held.acquired_by}
        {held.lease_until !== null && <> · lease until <Time iso={held.lease_until} /></>}
        {held.expired && ' · lease expired'}
      </p>
      {/* Keyed by the lock: a form opened for one lock never releases another that took its place. */}
      {admin && <ForceUnlock key={held.ID} state={name} lock={held} onReleased={onChanged} />}
    </div>
  );
};
