import { useState } from 'preact/hooks';
import { atLeast, type Role } from '../../access/roles.js';
import { type Resource, type Run } from './api.js';
import { outputsPath, resourcesPath, runsPath, statePath, versionsPath } from './api-paths.js';
import { AuditTrail } from './audit-trail.js';
import { CompareSection } from './compare-section.js';
import { DownloadLink } from './download-link.js';
import { changesBody } from './event-kinds.js';
import { useLiveRefresh } from './live.js';
import { LockPanel } from './lock-panel.js';
import { Pending } from './pending.js';
import { StateAtTime } from './state-at-time.js';
import { Time } from './time.js';
import { useApi } from './use-api.js';
import { VersionsSection, type VersionsPage } from './versions-section.js';

interface Outputs {
  readonly version: number;
  readonly outputs: Readonly<Record<string, { readonly value?: unknown; readonly type?: unknown; readonly sensitive?: boolean }>>;
}

/** Sensitive values are never shown, whoever may read them. */
const OutputsSection = ({ name, refresh }: { readonly name: string; readonly refresh: number }) => {
  const outputs = useApi<Outputs>(outputsPath(name), refresh);
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

const ResourcesSection = ({ name, refresh }: { readonly name: string; readonly refresh: number }) => {
  const [after, setAfter] = useState<string | null>(null);
  const page = useApi<{ resources: Resource[]; next: string | null }>(resourcesPath(name, after), refresh);
  return (
    <section aria-labelledby="resources-title">
      <h2 id="resources-title">Resources</h2>
      {page.kind !== 'ok' ? <Pending loaded={page} /> : page.value.resources.length === 0 ? (
        <p class="muted">
          {after === null ? 'No resources indexed (yet).' : 'No more resources.'}{' '}
          {after !== null && <button type="button" onClick={() => setAfter(null)}>First page</button>}
        </p>
      ) : (
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

const RunVersions = ({ name, run }: { readonly name: string; readonly run: Run }) => {
  const versions = useApi<VersionsPage>(`${statePath(name)}/versions?before=${run.last_version + 1}&limit=${Math.min(run.versions, 100)}`);
  if (versions.kind !== 'ok') return <Pending loaded={versions} />;
  return (
    <ul>
      {versions.value.versions.map((v) => (
        <li key={v.version}>
          version {v.version} (serial {v.serial}) at <Time iso={v.created_at} />{' '}
          {v.pruned === null ? <DownloadLink name={name} version={v.version}>download</DownloadLink> : <span class="muted">pruned</span>}
        </li>
      ))}
    </ul>
  );
};

/** A run of the timeline; its versions are asked for only when it is opened. */
const RunEntry = ({ name, run }: { readonly name: string; readonly run: Run }) => {
  const [open, setOpen] = useState(false);
  return (
    <li>
      <details onToggle={(event) => setOpen((event.currentTarget as HTMLDetailsElement).open)}>
        <summary>
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
        </summary>
        {open && <RunVersions name={name} run={run} />}
      </details>
    </li>
  );
};

const RunsSection = ({ name, refresh }: { readonly name: string; readonly refresh: number }) => {
  const runs = useApi<{ runs: Run[] }>(runsPath(name), refresh);
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runs.kind !== 'ok' ? <Pending loaded={runs} /> : runs.value.runs.length === 0 ? <p class="muted">No runs yet.</p> : (
        <ol class="timeline">
          {runs.value.runs.map((run) => <RunEntry key={run.first_version} name={name} run={run} />)}
        </ol>
      )}
    </section>
  );
};

/** A state: what the user's role lets them see and do, kept current by the live event stream. */
export const StatePage = ({ name, role }: { readonly name: string; readonly role: Role | undefined }) => {
  const [changed, setChanged] = useState(0);
  const bump = () => setChanged((n) => n + 1);
  const mine = (event: { readonly state: string }) => event.state === name;
  const everything = useLiveRefresh(mine) + changed;
  const bodies = useLiveRefresh((event) => mine(event) && changesBody(event)) + changed;
  const admin = atLeast(role, 'admin');
  const newest = useApi<VersionsPage>(role === undefined || role === 'outputs' ? null : versionsPath(name, null), bodies);
  const latest = newest.kind === 'ok' ? newest.value.versions[0]?.version : undefined;
  const deleted = newest.kind === 'ok' && newest.value.current === null && latest !== undefined;
  return (
    <>
      <p class="crumbs"><a href="#/">States</a> / {name}</p>
      <h1>{name}</h1>
      {deleted && (
        <p role="status" class="warning">
          This state was deleted (see the audit trail). Its versions are kept{admin ? ': rolling back to one of them restores it.' : '; an administrator can restore it by rolling back to one.'}
        </p>
      )}
      {role === undefined ? (
        <p role="alert" class="error">You have no role on this state.</p>
      ) : (
        <>
          {role !== 'outputs' && <LockPanel name={name} admin={admin} refresh={everything} onChanged={bump} />}
          <OutputsSection name={name} refresh={bodies} />
          {role !== 'outputs' && (
            <>
              <RunsSection name={name} refresh={everything} />
              <VersionsSection name={name} newest={newest} admin={admin} onChanged={bump} />
              {latest !== undefined && <CompareSection name={name} current={latest} />}
              <StateAtTime name={name} />
              <ResourcesSection name={name} refresh={bodies} />
              <AuditTrail name={name} refresh={everything} />
            </>
          )}
        </>
      )}
    </>
  );
};
