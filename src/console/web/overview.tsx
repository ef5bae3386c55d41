import type { VNode } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { Activity } from './activity.js';
import type { HeldLock, Resource, StateListing } from './api.js';
import { isStateEvent } from './event-kinds.js';
import { age, bytes, counted, grouped } from './format.js';
import { useLiveRefresh } from './live.js';
import { Time } from './time.js';
import { Pending } from './pending.js';
import { STATES } from './api-paths.js';
import { stateHref } from './routes.js';
import { allFolders, buildTree, isFolder, openByDefault, PAGE, type Folder } from './state-tree.js';
import { useApi } from './use-api.js';
import { useHeldLocks } from './use-leases.js';

/** A screenful: a fleet larger than this opens on its upper folders, each summed up. */
const VISIBLE_ROWS = 60;

const indent = (depth: number) => ({ paddingLeft: `${depth * 1.25 + 0.5}rem` });

const LastChange = ({ state }: { readonly state: StateListing | undefined }) => (
  <td>
    <Time iso={state?.updated_at ?? null} />
    {state?.updated_by != null && <span class="muted"> by {state.who ?? state.updated_by}</span>}
  </td>
);

const StateRow = ({ state, depth, lock }: { readonly state: StateListing; readonly depth: number; readonly lock: HeldLock | undefined }) => (
  <tr class={lock?.expired === true ? 'stale' : undefined}>
    <td style={indent(depth)}>
      <a href={stateHref(state.name)}>{state.name.slice(state.name.lastIndexOf('/') + 1)}</a>
    </td>
    <td class="number">{state.version ?? '–'}</td>
    <td class="number">{bytes(state.size)}</td>
    <LastChange state={state} />
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
  </tr>
);

const FolderRow = ({ folder, open, toggle }: { readonly folder: Folder<StateListing>; readonly open: boolean; readonly toggle: () => void }) => (
  <tr class="folder">
    <td style={indent(folder.depth)}>
      <button type="button" class="folder-toggle" aria-expanded={open} onClick={toggle}>{folder.name}/</button>
    </td>
    <td class="number muted">{counted(folder.states, 'state')}</td>
    <td class="number">{bytes(folder.size)}</td>
    <LastChange state={folder.latest} />
    <td>
      {folder.locked === 0 ? <span class="muted">none locked</span> : (
        <span class={folder.stale > 0 ? 'stale' : 'locked'}>{grouped(folder.locked)} locked{folder.stale > 0 && ` · ${grouped(folder.stale)} lease expired`}</span>
      )}
    </td>
  </tr>
);

/**
 * Each state under the folders of its name. Folders open and close; a folder opened by default
 * (or by hand) stays so while live updates arrive, and one that appears later follows the default.
 */
const StatesTable = ({ states, locks }: { readonly states: readonly StateListing[]; readonly locks: ReadonlyMap<string, HeldLock> }) => {
  const tree = useMemo(() => buildTree(states, (state) => locks.get(state.name)?.expired === true), [states, locks]);
  const defaults = useMemo(() => openByDefault(tree, VISIBLE_ROWS), [tree]);
  const [decided, setDecided] = useState<ReadonlyMap<string, boolean>>(() => new Map(allFolders(tree).map((path) => [path, defaults.has(path)])));
  const [unpaged, setUnpaged] = useState<ReadonlySet<string>>(new Set());
  const isOpen = (path: string) => decided.get(path) ?? defaults.has(path);
  const setAll = (open: boolean) => {
    setDecided(new Map(allFolders(tree).map((path) => [path, open])));
    if (open) setUnpaged(new Set(['', ...allFolders(tree)]));
  };
  const rows: VNode[] = [];
  const walk = (folder: Folder<StateListing>) => {
    const shown = unpaged.has(folder.path) ? folder.children : folder.children.slice(0, PAGE);
    for (const entry of shown) {
      if (!isFolder(entry)) {
        rows.push(<StateRow key={entry.name} state={entry} depth={folder.depth + 1} lock={locks.get(entry.name)} />);
        continue;
      }
      const open = isOpen(entry.path);
      rows.push(<FolderRow key={`folder:${entry.path}`} folder={entry} open={open} toggle={() => setDecided(new Map(decided).set(entry.path, !open))} />);
      if (open) walk(entry);
    }
    const hidden = folder.children.length - shown.length;
    if (hidden > 0) {
      rows.push(
        <tr key={`more:${folder.path}`}>
          <td colSpan={5} style={indent(folder.depth + 1)}>
            <button type="button" onClick={() => setUnpaged(new Set(unpaged).add(folder.path))}>Show {grouped(hidden)} more in {folder.path === '' ? 'the top level' : folder.path}</button>
          </td>
        </tr>,
      );
    }
  };
  walk(tree);
  const hasFolders = tree.children.some(isFolder);
  return (
    <>
      <p class="tree-summary">
        {counted(tree.states, 'state')}, {grouped(tree.locked)} locked{tree.stale > 0 && <span class="stale"> ({grouped(tree.stale)} lease expired)</span>}
        {hasFolders && (
          <span class="tree-tools">
            <button type="button" onClick={() => setAll(true)}>Expand all</button>
            <button type="button" onClick={() => setAll(false)}>Collapse all</button>
          </span>
        )}
      </p>
      <table class="states" data-states={tree.states}>
        <thead>
          <tr><th scope="col">State</th><th scope="col" class="number">Version</th><th scope="col" class="number">Size</th><th scope="col">Last change</th><th scope="col">Lock</th></tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
    </>
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
  const states = useApi<{ states: StateListing[] }>(STATES, useLiveRefresh(isStateEvent));
  // A push by the holder renews its lease: locks change with more than lock events.
  const locks = useHeldLocks(useLiveRefresh(isStateEvent));
  const held = useMemo(() => new Map((locks.kind === 'ok' ? locks.value.locks : []).map((lock) => [lock.state, lock])), [locks]);
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
