import { useState } from 'preact/hooks';
import { type Version } from './api.js';
import { versionsPath } from './api-paths.js';
import { DownloadLink } from './download-link.js';
import { bytes } from './format.js';
import { Pending } from './pending.js';
import { Rollback } from './rollback.js';
import { Time } from './time.js';
import { useApi, type Loaded } from './use-api.js';

export interface VersionsPage {
  /** The current version now; null once the state has been deleted. */
  readonly current: number | null;
  readonly versions: readonly Version[];
  readonly next: number | null;
}

/**
 * The versions, newest first, paged, each to download; administrators may roll back to one.
 * `newest` is the first page (the state's page fetches it, and knows the current version from it).
 */
export const VersionsSection = ({ name, newest, admin, onChanged }: { readonly name: string; readonly newest: Loaded<VersionsPage>; readonly admin: boolean; readonly onChanged: () => void }) => {
  const [before, setBefore] = useState<number | null>(null);
  const [target, setTarget] = useState<Version | null>(null);
  const [done, setDone] = useState<string | undefined>(undefined);
  const older = useApi<VersionsPage>(before === null ? null : versionsPath(name, before));
  const shown = before === null ? newest : older;
  const latest = newest.kind === 'ok' ? newest.value.versions[0] : undefined;
  // The version a rollback starts from: none once the state was deleted (its versions are kept).
  const current = newest.kind !== 'ok' ? undefined : newest.value.current === null ? null : latest;
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {done !== undefined && <p role="status" class="done">{done}</p>}
      {shown.kind !== 'ok' ? <Pending loaded={shown} /> : shown.value.versions.length === 0 ? <p class="muted">No versions.</p> : (
        <>
          <table aria-label="versions">
            <thead>
              <tr><th scope="col" class="number">Version</th><th scope="col" class="number">Serial</th><th scope="col" class="number">Size</th><th scope="col" class="number">Instances</th><th scope="col">Created</th><th scope="col">By</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              {shown.value.versions.map((v) => (
                <tr key={v.version}>
                  <td class="number">{v.version}</td>
                  <td class="number">{v.serial}</td>
                  <td class="number">{bytes(v.size)}</td>
                  <td class="number">{v.instances ?? '–'}</td>
                  <td><Time iso={v.created_at} /></td>
                  <td>{v.who ?? v.created_by}{v.restored_from !== null && <span class="muted"> (rollback to {v.restored_from})</span>}</td>
                  <td class="actions">
                    {v.pruned === null ? <DownloadLink name={name} version={v.version}>Download</DownloadLink> : <span class="muted">pruned</span>}
                    {admin && current !== undefined && v.version !== current?.version && v.pruned === null && (
                      <button type="button" onClick={() => { setDone(undefined); setTarget(v); }} aria-label={`Roll back to version ${v.version}`}>Roll back…</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            {before !== null && <button type="button" onClick={() => setBefore(null)}>Newest</button>}
            {shown.value.next !== null && <button type="button" onClick={() => setBefore(shown.value.next)}>Older</button>}
          </div>
        </>
      )}
      {target !== null && current !== undefined && latest !== undefined && (
        <Rollback
          key={target.version}
          name={name}
          target={target}
          current={current}
          written={latest.version + 1}
          onCancel={() => {
            setTarget(null);
            // Back to the button that opened it.
            requestAnimationFrame(() => document.querySelector<HTMLButtonElement>(`[aria-label="Roll back to version ${target.version}"]`)?.focus());
          }}
          onDone={(result) => {
            setTarget(null);
            setBefore(null);
            setDone(`Rolled back: version ${result.version} now holds the content of version ${result.restored_from} (serial ${result.serial}).`);
            onChanged();
          }}
        />
      )}
    </section>
  );
};
