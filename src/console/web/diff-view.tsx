import { Fragment } from 'preact';
import type { StateDiff } from './api.js';

const byAddress = (a: { address: string }, b: { address: string }) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

type Row = { readonly address: string; readonly kind: 'added' | 'removed' | 'changed'; readonly attributes: readonly string[] };

const outputValue = (sensitive: boolean, value: unknown) => (sensitive ? <span class="muted">(sensitive)</span> : <code class="value">{JSON.stringify(value)}</code>);

/**
 * Two versions side by side, one row per resource that differs: the left column as it was in
 * `left`, the right as it is in `right`, with the names of the attributes that changed (the API
 * never sends their values). Sensitive outputs show no value on either side.
 */
export const DiffView = ({ diff, left, right }: { readonly diff: StateDiff; readonly left: string; readonly right: string }) => {
  const rows: Row[] = [
    ...diff.resources.added.map((address) => ({ address, kind: 'added' as const, attributes: [] })),
    ...diff.resources.removed.map((address) => ({ address, kind: 'removed' as const, attributes: [] })),
    ...diff.resources.changed.map((change) => ({ address: change.address, kind: 'changed' as const, attributes: change.attributes })),
  ].sort(byAddress);
  const outputs = diff.outputs.added.length + diff.outputs.removed.length + diff.outputs.changed.length;
  return (
    <div class="diff">
      <p>
        <span class="added">{diff.resources.added.length} added</span>, <span class="changed">{diff.resources.changed.length} changed</span>,{' '}
        <span class="removed">{diff.resources.removed.length} removed</span> resource instances; {outputs} output{outputs === 1 ? '' : 's'} changed.
      </p>
      {rows.length > 0 && (
        <table class="side-by-side" aria-label="resources compared">
          <thead><tr><th scope="col">{left}</th><th scope="col">{right}</th></tr></thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.address} class={row.kind}>
                <td>{row.kind === 'added' ? <span class="muted">(absent)</span> : <code>{row.address}</code>}</td>
                <td>
                  {row.kind === 'removed' ? <span class="muted">(removed)</span> : <code>{row.address}</code>}
                  {row.kind === 'added' && <span class="tag">added</span>}
                  {row.attributes.length > 0 && <div class="attributes">changed: {row.attributes.map((name, i) => <Fragment key={name}>{i > 0 && ', '}<code>{name}</code></Fragment>)}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {outputs > 0 && (
        <table class="side-by-side outputs" aria-label="outputs compared">
          <thead><tr><th scope="col">Output</th><th scope="col">{left}</th><th scope="col">{right}</th></tr></thead>
          <tbody>
            {diff.outputs.added.map((o) => <tr key={o.name} class="added"><td><code>{o.name}</code></td><td class="muted">(absent)</td><td>{outputValue(o.sensitive, o.value)}</td></tr>)}
            {diff.outputs.removed.map((o) => <tr key={o.name} class="removed"><td><code>{o.name}</code></td><td>{o.sensitive ? <span class="muted">(sensitive)</span> : <span class="muted">(present)</span>}</td><td class="muted">(removed)</td></tr>)}
            {diff.outputs.changed.map((o) => <tr key={o.name} class="changed"><td><code>{o.name}</code></td><td>{outputValue(o.sensitive, o.before)}</td><td>{outputValue(o.sensitive, o.after)}</td></tr>)}
          </tbody>
        </table>
      )}
    </div>
  );
};
