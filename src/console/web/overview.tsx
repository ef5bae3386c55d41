import { useState } from 'preact/hooks';
import { Activity } from './activity.js';
import type { HeldLock, Resource, StateListing } from './api.js';
import { isStateEvent } from './event-kinds.js';
import { age, bytes } from './format.js';
import { useLiveRefresh } from './live.js';
import { Time } from './time.js';
import { Pending } from './pending.js';
import { stateHref } from './routes.js';
import { useApi } from './use-api.js';

/** Each state under the folders of its name: `team-a/prod/network` sits in team-a/ and prod/. */
const StatesTable = ({ states, locks }: { readonly states: readonly StateListing[]; readonly locks: ReadonlyMap<string, HeldLock> }) => {
  let folders: string[] = [];
  const rows = [];
  // In code-unit order, whatever the database's collation: each folder's states then come together.
  const sorted = [...states].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const state of sorted) {
    const segments = state.name.split('/');
    const parents = segments.slice(0, -1);
    const shared = parents.findIndex((segment, i) => folders[i] !== segment);
    const from = shared < 0 ? parents.length : shared;
    for (let depth = from; depth < parents.length; depth++) {
      rows.push(
        <tr class="folder" key={`folder:${parents.slice(0, depth + 1).join('/')}`}>
          <td colSpan={5} style={{ paddingLeft: `${depth * 1.25 + 0.5}rem` }}>{parents[depth]}/</td>
        </tr>,
      );
    }
    folders = parents;
    const lock = locks.get(state.name);
    rows.push(
      <tr key={state.name} class={lock?.expired === true ? 'stale' : undefined}>
        <td style={{ paddingLeft: `${parents.length * 1.25 + 0.5}rem` }}>
          <a href={stateHref(state.name)}>{segments[segments.length - 1]}</a>
        </td>
        <td class="number">{state.version ?? '–'}</td>
        <td class="number">{bytes(state.size)}</td>
        <td>
          <Time iso={state.updated_at} />
          {state.updated_by !== null && <span class="muted"> by {state.who ?? state.updated_by}</span>}
        </td>
        <td>
          {state.lock === null ? (
            <span class="muted">unlocked</span>
          ) : (
            <span class="locked" title={`lock ${state.lock.id}, taken by ${state.lock.acquired_by}`}>
              locked by {state.lock.who ?? state.lock.acquired_by}
              {lock !== undefined && ` · ${age(lock.age_seconds)}`}
              {lock?.expired === true && ' · lease expired'}
            </span>
          )}
        </td>
      </tr>,
    );
  }
  return (
    <table class="states">
      <thead>
        <tr><th scope="col">State</th><th scope="col" class="number">Version</th><th scope="col" class="number">Size</th><th scope="col">Last change</th><th scope="col">Lock</th></tr>
      </thead>
      <tbody>{rows}</tbody>
    </table>
  );
};

const FILTERS = [
  ['address', 'Address'],
  ['type', 'Type'],
  ['id', 'ID'],
] as const;

/** A search over the resources of every state the user may read (GET /resources). */
const ResourceSearch = () => {
  const [query, setQuery] = useState<string | null>(null);
  const found = useApi<{ resources: Resource[] }>(query);
  const search = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = String(form.get('text')).trim();
    if (text !== '') setQuery(`/resources?${new URLSearchParams({ [String(form.get('by'))]: text, limit: '50' }).toString()}`);
  };
  return (
    <section aria-labelledby="search-title">
      <h2 id="search-title">Find a resource</h2>
      <form class="search" role="search" onSubmit={search}>
        <select name="by" aria-label="Search by">
          {FILTERS.map(([value, label]) => <option value={value} key={value}>{label}</option>)}
        </select>
        <input name="text" aria-label="Search text" placeholder="aws_s3_bucket.logs, aws_instance, i-0abc… (a trailing * matches a prefix)" />
        <button type="submit">Search</button>
      </form>
      {query !== null && (found.kind === 'ok' ? (
        found.value.resources.length === 0 ? <p class="muted">No resource matches.</p> : (
          <table aria-label="resources found">
            <thead><tr><th scope="col">State</th><th scope="col">Address</th><th scope="col">ID</th></tr></thead>
            <tbody>
              {found.value.resources.map((r) => (
                <tr key={`${r.state}:${r.address}`}><td><a href={stateHref(r.state)}>{r.state}</a></td><td><code>{r.address}</code></td><td><code>{r.id ?? '–'}</code></td></tr>
              ))}
            </tbody>
          </table>
        )
      ) : <Pending loaded={found} />)}
    </section>
  );
};

export const Overview = () => {
  const states = useApi<{ states: StateListing[] }>('/states', useLiveRefresh(isStateEvent));
  // A push by the holder renews its lease: locks change with more than lock events.
  const locks = useApi<{ locks: HeldLock[] }>('/locks', useLiveRefresh(isStateEvent));
  const held = new Map((locks.kind === 'ok' ? locks.value.locks : []).map((lock) => [lock.state, lock]));
  return (
    <>
      <h1>States</h1>
      {/* Shown once the locks are known too, so that their ages do not arrive after the rows. */}
      {states.kind === 'ok' && locks.kind !== 'loading' ? (
        states.value.states.length === 0 ? <p class="muted">No state yet: point a Terraform <code>backend "http"</code> at this server and run <code>terraform init</code>.</p> : <StatesTable states={states.value.states} locks={held} />
      ) : <Pending loaded={states.kind === 'ok' ? locks : states} />}
      <ResourceSearch />
      <Activity />
    </>
  );
};
