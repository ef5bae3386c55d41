import { useState } from 'preact/hooks';
import { type StateDiff } from './api.js';
import { statePath } from './api-paths.js';
import { DiffView } from './diff-view.js';
import { Pending } from './pending.js';
import { useApi } from './use-api.js';

/**
 * Any two versions compared (GET /states/NAME/diff), the current one and the one before offered
 * first. Compared when asked: a diff parses both versions whole, too much to do on every visit.
 */
export const CompareSection = ({ name, current }: { readonly name: string; readonly current: number }) => {
  const [pair, setPair] = useState<{ from: number; to: number } | null>(null);
  const chosen = pair ?? { from: Math.max(1, current - 1), to: current };
  const diff = useApi<StateDiff>(pair === null ? null : `${statePath(name)}/diff?from=${pair.from}&to=${pair.to}`);
  const compare = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setPair({ from: Number(form.get('from')), to: Number(form.get('to')) });
  };
  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Compare versions</h2>
      {/* Uncontrolled, so that live updates never reset what is being typed; a new current version offers new defaults. */}
      <form class="inline" onSubmit={compare} key={current}>
        <label>From version <input name="from" type="number" min={1} max={current} required defaultValue={String(chosen.from)} /></label>
        <label>to version <input name="to" type="number" min={1} max={current} required defaultValue={String(chosen.to)} /></label>
        <button type="submit">Compare</button>
      </form>
      {pair === null ? null : diff.kind === 'ok' ? <DiffView diff={diff.value} left={`version ${chosen.from}`} right={`version ${chosen.to}`} /> : <Pending loaded={diff} />}
    </section>
  );
};
