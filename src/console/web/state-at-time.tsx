import { useState } from 'preact/hooks';
import { api, ApiError, type LockInfo, type Version } from './api.js';
import { statePath } from './api-paths.js';
import { DownloadLink } from './download-link.js';
import { bytes } from './format.js';
import { Time } from './time.js';

/** Bodies the browser parses to show a past state's outputs and resources; larger ones are downloaded. */
const SHOWN_BYTES = 4 * 1024 * 1024;

interface Resource { readonly mode?: string; readonly type?: string; readonly name?: string; readonly module?: string; readonly instances?: ReadonlyArray<{ readonly index_key?: unknown }> }
interface Document { readonly outputs?: Readonly<Record<string, { readonly value?: unknown; readonly sensitive?: boolean }>>; readonly resources?: readonly Resource[] }

type Past =
  | { readonly kind: 'absent'; readonly at: string }
  | { readonly kind: 'present'; readonly at: string; readonly version: Version; readonly lock: LockInfo | null; readonly document: Document | null };

const instanceAddresses = (document: Document): string[] =>
  (document.resources ?? []).flatMap((r) => {
    const base = `${r.module === undefined ? '' : `${r.module}.`}${r.mode === 'data' ? 'data.' : ''}${r.type}.${r.name}`;
    return (r.instances ?? []).map((i) => (i.index_key === undefined ? base : `${base}[${JSON.stringify(i.index_key)}]`));
  });

const orAbsent = async <T,>(request: Promise<T>): Promise<T | null> =>
  request.catch((error: unknown) => {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  });

const lookBack = async (name: string, at: string): Promise<Past> => {
  const query = new URLSearchParams({ at }).toString();
  const [versions, lock, exists] = await Promise.all([
    api<{ versions: Version[] }>(`${statePath(name)}/versions?${query}&limit=1`),
    orAbsent(api<LockInfo>(`${statePath(name)}/lock?${query}`)),
    fetch(`${statePath(name)}?${query}`, { method: 'HEAD', credentials: 'same-origin' }),
  ]);
  const version = versions.versions[0];
  if (exists.status === 404 || version === undefined) return { kind: 'absent', at };
  // 410: its body was pruned by retention; the version is still shown.
  if (!exists.ok && exists.status !== 410) throw new ApiError(exists.status, 'error', `the server answered ${exists.status}`);
  const readable = !version.encrypted && version.size <= SHOWN_BYTES && version.pruned === null;
  const document = readable ? await api<Document>(`${statePath(name)}?${query}`) : null;
  return { kind: 'present', at, version, lock, document };
};

/** The state as it was at a chosen time: its version then, its lock then, and its outputs and resources. */
export const StateAtTime = ({ name }: { readonly name: string }) => {
  const [past, setPast] = useState<Past | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const show = async (event: SubmitEvent) => {
    event.preventDefault();
    const local = String(new FormData(event.currentTarget as HTMLFormElement).get('at'));
    setProblem(undefined);
    try {
      setPast(await lookBack(name, new Date(local).toISOString()));
    } catch (error) {
      setProblem((error as Error).message);
    }
  };
  return (
    <section aria-labelledby="at-title">
      <h2 id="at-title">The state at a time</h2>
      <form class="inline" onSubmit={show}>
        <label>At <input name="at" type="datetime-local" step={1} required /></label>
        <button type="submit">Show</button>
      </form>
      {problem !== undefined && <p role="alert" class="error">{problem}</p>}
      {past?.kind === 'absent' && <p class="muted">At <Time iso={past.at} /> the state did not exist (or had been deleted).</p>}
      {past?.kind === 'present' && <PastState name={name} past={past} />}
    </section>
  );
};

const PastState = ({ name, past }: { readonly name: string; readonly past: Extract<Past, { kind: 'present' }> }) => {
  const { version, lock, document } = past;
  const outputs = Object.entries(document?.outputs ?? {});
  const addresses = document === null ? [] : instanceAddresses(document);
  return (
    <div class="past" aria-label="state at that time">
      <p>
        At <Time iso={past.at} /> the state was <strong>version {version.version}</strong> (serial {version.serial}, {bytes(version.size)}), written by{' '}
        {version.who ?? version.created_by} at <Time iso={version.created_at} />.{' '}
        {lock === null ? 'It was not locked.' : <>It was locked by {lock.Who ?? lock.acquired_by} ({lock.Operation ?? 'no operation'}) since <Time iso={lock.acquired_at} />.</>}{' '}
        {version.pruned === null && <DownloadLink name={name} version={version.version}>Download it</DownloadLink>}
      </p>
      {document === null ? (
        <p class="muted">{version.pruned !== null ? 'Its body was removed by retention.' : version.encrypted ? 'It is encrypted: download it to read it.' : `It is too large to show here (${bytes(version.size)}): download it.`}</p>
      ) : (
        <>
          <h3>Outputs then</h3>
          {outputs.length === 0 ? <p class="muted">No outputs.</p> : (
            <table>
              <tbody>
                {outputs.map(([output, entry]) => (
                  <tr key={output}><td><code>{output}</code></td><td>{entry.sensitive === true ? <span class="muted">(sensitive)</span> : <code class="value">{JSON.stringify(entry.value)}</code>}</td></tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>{addresses.length} resource instances then</h3>
          <ul class="addresses">{addresses.slice(0, 200).map((address) => <li key={address}><code>{address}</code></li>)}</ul>
          {addresses.length > 200 && <p class="muted">and {addresses.length - 200} more: download the version to see them all.</p>}
        </>
      )}
    </div>
  );
};
