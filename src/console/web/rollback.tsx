import { useEffect, useRef, useState } from 'preact/hooks';
import { send, type StateDiff, type Version } from './api.js';
import { statePath } from './api-paths.js';
import { DiffView } from './diff-view.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import { useApi } from './use-api.js';

interface RolledBack {
  readonly version: number;
  readonly restored_from: number;
  readonly serial: number;
}

/**
 * An administrator's rollback (POST /states/NAME/rollback): what it will change (the diff from
 * the current version to the chosen one), a warning when the lineages differ (the server refuses
 * those unless forced), a reason, then a confirmation. History is kept: a new version is written.
 */
export const Rollback = ({ name, target, current, written, onDone, onCancel }: {
  readonly name: string;
  readonly target: Version;
  /** null: the state was deleted, and the rollback restores it. */
  readonly current: Version | null;
  /** The version the rollback writes. */
  readonly written: number;
  readonly onDone: (result: RolledBack) => void;
  readonly onCancel: () => void;
}) => {
  const comparable = current !== null && !target.encrypted && !current.encrypted;
  const preview = useApi<StateDiff>(comparable ? `${statePath(name)}/diff?from=${current.version}&to=${target.version}` : null);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  // A deleted state has no lineage to keep: the server checks none.
  const otherLineage = current !== null && target.lineage !== current.lineage;
  // Keyboard and screen-reader users are taken to the form, which opens below the whole table.
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const confirm = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setProblem(undefined);
    try {
      const reason = String(form.get('reason')).trim();
      onDone(await send<RolledBack>(`${statePath(name)}/rollback`, 'POST', { version: target.version, reason, force: form.get('force') === 'on' }));
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="dangerous" onSubmit={confirm} aria-label="rollback">
      <h3 ref={heading} tabIndex={-1}>Roll back to version {target.version}</h3>
      <p>
        Version {target.version} (serial {target.serial}) was written by {target.who ?? target.created_by} at <Time iso={target.created_at} />. Rolling
        back writes version {written} with its content; every version stays in the history. Terraform sees a higher serial, never a lower one.
      </p>
      <h4>What will change</h4>
      {current === null ? (
        <p>The state was deleted: the rollback makes it exist again, with the content of version {target.version}.</p>
      ) : !comparable ? (
        <p class="muted">An encrypted state cannot be compared by the server; the rollback restores the bytes of version {target.version} as they are.</p>
      ) : preview.kind === 'ok' ? (
        <DiffView diff={preview.value} left={`now (version ${current.version})`} right={`after the rollback (as version ${target.version})`} />
      ) : (
        <Pending loaded={preview} />
      )}
      {otherLineage && (
        <div role="alert" class="warning">
          <p>
            Version {target.version} belongs to another lineage (<code>{target.lineage ?? 'none'}</code>, the current one is <code>{current?.lineage ?? 'none'}</code>): it
            is a different state, not an earlier version of this one. Terraform refuses to continue from a state of another lineage unless the workspace was meant to
            change.
          </p>
          <label class="check"><input type="checkbox" name="force" required /> I know; roll back across lineages</label>
        </div>
      )}
      <label>
        Reason (kept in the audit trail)
        <textarea name="reason" required maxLength={1000} rows={2} placeholder="apply of 14:02 destroyed the DNS zone; restoring the state before it" />
      </label>
      {problem !== undefined && <p role="alert" class="error">{problem}</p>}
      <div class="actions">
        {/* Not before the preview of what it changes now (a live push may have changed it) has arrived. */}
        <button type="submit" class="danger" disabled={busy || (comparable && preview.kind === 'loading')}>Roll back to version {target.version}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
};
