import { useState } from 'preact/hooks';
import type { Role } from '../../access/roles.js';
import { statePath, type LockInfo, type Resource, type Run, type Version } from './api.js';
import { bytes } from './format.js';
import { Pending } from './overview.js';
import { Time } from './time.js';
import { useApi } from './use-api.js';

interface Outputs {
  readonly version: number;
  readonly outputs: Readonly<Record<string, { readonly value?: unknown; readonly type?: unknown; readonly sensitive?: boolean }>>;
}

/** Sensitive values are never shown, whoever may read them. */
const OutputsSection = ({ name }: { readonly name: string }) => {
  const outputs = useApi<Outputs>(`${statePath(name)}/outputs`);
  return (
    <section aria-labelledby="outputs-title">
      <h2 id="outputs-title">Outputs</h2>
      {outputs.kind !== 'ok' ? <Pending loaded={outputs} /> : Object.keys(outputs.value.outputs).length === 0 ? <p class="muted">No outputs.</p> : (
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead>
          <tbody>
            {Object.entries(outputs.value.outputs).map(([output, entry]) => (
              <tr key={output}>
                <td><code>{output}</code></td>
                <td>{entry.sensitive === true ? <span class="muted">(sensitive)</span> : <code class="value">{JSON.stringify(entry.value)}</code>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
};

const LockPanel = ({ name }: { readonly name: string }) => {
  const lock = useApi<LockInfo>(`${statePath(name)}/lock`);
  if (lock.kind === 'failed' && lock.status === 404) return <p class="muted" aria-label="lock">Unlocked.</p>;
  if (lock.kind !== 'ok') return <Pending loaded={lock} />;
  const held = lock.value;
  return (
    <p class={held.expired === true ? 'locked stale' : 'locked'} aria-label="lock">
      Locked by {held.Who ?? 'someone'} ({held.Operation ?? 'no operation'}) since <Time iso={held.acquired_at ?? null} />
      {held.lease_until != null && <> · lease until <Time iso={held.lease_until} /></>}
      {held.expired === true && ' · lease expired'}
    </p>
  );
};

const ResourcesSection = ({ name }: { readonly name: string }) => {
  const [after, setAfter] = useState<string | null>(null);
  const page = useApi<{ resources: Resource[]; next: string | null }>(`/resources?${new URLSearchParams({ state: name, limit: '100', ...(after === null ? {} : { after }) }).toString()}`);
  return (
    <section aria-labelledby="resources-title">
      <h2 id="resources-title">Resources</h2>
      {page.kind !== 'ok' ? <Pending loaded={page} /> : page.value.resources.length === 0 ? <p class="muted">No resources indexed (yet).</p> : (
        <>
          <table>
            <thead><tr><th scope="col">Address</th><th scope="col">Type</th><th scope="col">Module</th><th scope="col">ID</th></tr></thead>
            <tbody>
              {page.value.resources.map((r) => (
                <tr key={r.address}><td><code>{r.address}</code></td><td>{r.type}</td><td>{r.module === '' ? <span class="muted">root</span> : r.module}</td><td><code>{r.id ?? '–'}</code></td></tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            {after !== null && <button type="button" onClick={() => setAfter(null)}>First page</button>}
            {page.value.next !== null && <button type="button" onClick={() => setAfter(page.value.next)}>Next page</button>}
          </div>
        </>
      )}
    </section>
  );
};

const RunsSection = ({ name }: { readonly name: string }) => {
  const runs = useApi<{ runs: Run[] }>(`${statePath(name)}/runs?limit=20`);
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runs.kind !== 'ok' ? <Pending loaded={runs} /> : runs.value.runs.length === 0 ? <p class="muted">No runs yet.</p> : (
        <ol class="timeline">
          {runs.value.runs.map((run) => (
            <li key={run.first_version}>
              <strong>{run.first_version === run.last_version ? `Version ${run.first_version}` : `Versions ${run.first_version}–${run.last_version}`}</strong>{' '}
              {run.operation ?? 'push'} by {run.who ?? run.started_by}, <Time iso={run.started_at} />
              {' · '}
              {run.ended === null ? <span class="locked">in progress</span> : run.ended}
              {' · '}
              {run.resources === null ? <span class="muted" title={run.resources_unknown ?? ''}>changes unknown</span> : (
                <span>
                  <span class="added">+{run.resources.added}</span> <span class="changed">~{run.resources.changed}</span> <span class="removed">−{run.resources.removed}</span>
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
};

const VersionsSection = ({ name }: { readonly name: string }) => {
  const versions = useApi<{ versions: Version[] }>(`${statePath(name)}/versions?limit=20`);
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {versions.kind !== 'ok' ? <Pending loaded={versions} /> : (
        <table>
          <thead><tr><th scope="col" class="number">Version</th><th scope="col" class="number">Serial</th><th scope="col" class="number">Size</th><th scope="col" class="number">Instances</th><th scope="col">Created</th><th scope="col">By</th><th scope="col"><span class="visually-hidden">Download</span></th></tr></thead>
          <tbody>
            {versions.value.versions.map((v) => (
              <tr key={v.version}>
                <td class="number">{v.version}</td>
                <td class="number">{v.serial}</td>
                <td class="number">{bytes(v.size)}</td>
                <td class="number">{v.instances ?? '–'}</td>
                <td><Time iso={v.created_at} /></td>
                <td>{v.who ?? v.created_by}</td>
                <td>{v.pruned === null ? <a href={`${statePath(name)}/versions/${v.version}`} download={`${name.replace(/\//g, '_')}-v${v.version}.tfstate`}>Download</a> : <span class="muted">pruned</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
};

/** A state: what the user's role lets them see (an `outputs`-only user sees only the outputs). */
export const StatePage = ({ name, role }: { readonly name: string; readonly role: Role | undefined }) => (
  <>
    <p class="crumbs"><a href="#/">States</a> / {name}</p>
    <h1>{name}</h1>
    {role === undefined ? (
      <p role="alert" class="error">You have no role on this state.</p>
    ) : (
      <>
        {role !== 'outputs' && <LockPanel name={name} />}
        <OutputsSection name={name} />
        {role !== 'outputs' && (
          <>
            <RunsSection name={name} />
            <ResourcesSection name={name} />
            <VersionsSection name={name} />
          </>
        )}
      </>
    )}
  </>
);
