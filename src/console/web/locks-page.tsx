import { useState } from 'preact/hooks';
import { atLeast, roleOn } from '../../access/roles.js';
import type { Grant } from './api.js';
import { isStateEvent } from './event-kinds.js';
import { ForceUnlock } from './force-unlock.js';
import { age } from './format.js';
import { useLiveRefresh } from './live.js';
import { Pending } from './pending.js';
import { stateHref } from './routes.js';
import { Time } from './time.js';
import { useHeldLocks } from './use-leases.js';

/** Every lock held on a state the user may read, oldest first; administrators may release one. */
export const LocksPage = ({ grants }: { readonly grants: readonly Grant[] }) => {
  const [released, setReleased] = useState(0);
  const locks = useHeldLocks(useLiveRefresh(isStateEvent) + released);
  return (
    <>
      <h1>Locks</h1>
      {locks.kind !== 'ok' ? <Pending loaded={locks} /> : locks.value.locks.length === 0 ? <p class="muted">No state is locked.</p> : (
        <table>
          <thead>
            <tr><th scope="col">State</th><th scope="col">Who</th><th scope="col">Operation</th><th scope="col">Taken</th><th scope="col" class="number">Age</th><th scope="col">Lease until</th><th scope="col"><span class="visually-hidden">Release</span></th></tr>
          </thead>
          <tbody>
            {locks.value.locks.map((lock) => (
              <tr key={`${lock.state}:${lock.ID}`} class={lock.expired ? 'stale' : undefined}>
                <td><a href={stateHref(lock.state)}>{lock.state}</a></td>
                <td title={`taken by ${lock.acquired_by}`}>{lock.Who ?? lock.acquired_by}</td>
                <td>{lock.Operation ?? '–'}</td>
                <td><Time iso={lock.acquired_at} /></td>
                <td class="number">{age(lock.age_seconds)}</td>
                <td>{lock.lease_until === null ? <span class="muted">no lease</span> : <><Time iso={lock.lease_until} />{lock.expired && ' (expired)'}</>}</td>
                <td>{atLeast(roleOn(grants, lock.state), 'admin') && <ForceUnlock state={lock.state} lock={lock} onReleased={() => setReleased((n) => n + 1)} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
};
