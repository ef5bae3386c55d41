import { useState } from 'preact/hooks';
import { ROLES } from '../../access/roles.js';
import { send } from './api.js';
import { Confirm, fieldsOf, Problem, useAction, type AccessGrant } from './administration-parts.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import type { Loaded } from './use-api.js';

const grantOf = ({ role, subject, glob }: AccessGrant) => ({ role, subject, glob });

const GrantRow = ({ grant, changed }: { readonly grant: AccessGrant; readonly changed: () => void }) => {
  const revocation = useAction();
  const revoke = async () => {
    if ((await revocation.run(() => send('/access/grants', 'DELETE', grantOf(grant)))) !== undefined) changed();
  };
  return (
    <>
      <tr>
        <td>{grant.role}</td>
        <th scope="row">{grant.subject}</th>
        <td><code>{grant.glob}</code></td>
        <td><Time iso={grant.granted_at} /></td>
        <td>{grant.granted_by}</td>
        <td class="actions">
          <Confirm verb="Revoke" what={`${grant.role} on ${grant.glob} from ${grant.subject}`} busy={revocation.busy} onConfirm={() => void revoke()} />
        </td>
      </tr>
      {revocation.error !== undefined && (
        <tr class="detail"><td colSpan={6}><Problem error={revocation.error} /></td></tr>
      )}
    </>
  );
};

/** POST /access/grants; `subjects` are offered as suggestions (the users and tokens that exist). */
const AddGrant = ({ subjects, changed }: { readonly subjects: readonly string[]; readonly changed: () => void }) => {
  const { busy, error, run } = useAction();
  const [notice, setNotice] = useState('');
  // The role stays as chosen after a grant (several grants of one role are common); the rest is cleared.
  const [role, setRole] = useState<string>('read');
  const add = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const field = fieldsOf(form);
    const grant = { role, subject: field('subject').trim(), glob: field('glob').trim() };
    setNotice('');
    const added = await run(() => send<{ changed: boolean }>('/access/grants', 'POST', grant));
    if (added === undefined) return;
    if (!added.value.changed) setNotice(`${grant.subject} has ${grant.role} on ${grant.glob} already: nothing changed.`);
    for (const name of ['subject', 'glob']) (form.elements.namedItem(name) as HTMLInputElement).value = '';
    changed();
  };
  return (
    <form class="access-form" onSubmit={add} aria-labelledby="add-grant-title">
      <h3 id="add-grant-title">Add a grant</h3>
      <div class="fields">
        <label>Role
          <select name="role" value={role} onChange={(event) => setRole(event.currentTarget.value)}>
            {ROLES.map((role) => <option key={role} value={role}>{role}</option>)}
          </select>
        </label>
        <label>Subject <input name="subject" required autoComplete="off" spellcheck={false} list="grant-subjects" placeholder="token:ci-deploy" aria-describedby="add-grant-hint" /></label>
        <datalist id="grant-subjects">{subjects.map((subject) => <option key={subject} value={subject} />)}</datalist>
        <label>States <input name="glob" required autoComplete="off" spellcheck={false} placeholder="team-a/**" aria-describedby="add-grant-hint" /></label>
        <button type="submit" disabled={busy}>Add grant</button>
      </div>
      <p id="add-grant-hint" class="hint muted">
        Subjects are <code>user:NAME</code>, <code>token:NAME</code> or <code>oidc:ISSUER[:claim=value,...]</code>. In the states pattern <code>*</code> matches within one
        segment of a name, <code>**</code> any number of segments, and <code>*</code> alone every state; admin on <code>*</code> also manages access.
      </p>
      <Problem error={error} />
      {notice !== '' && <p role="status" class="done">{notice}</p>}
    </form>
  );
};

export const GrantsSection = ({ grants, subjects, changed }: { readonly grants: Loaded<{ grants: AccessGrant[] }>; readonly subjects: readonly string[]; readonly changed: () => void }) => (
  <section aria-labelledby="grants-title">
    <h2 id="grants-title">Grants</h2>
    {grants.kind !== 'ok' ? <Pending loaded={grants} /> : grants.value.grants.length === 0 ? (
      <p class="muted empty">No grants yet: give a user or a token a role on some states below.</p>
    ) : (
      <table class="access">
        <thead>
          <tr>
            <th scope="col">Role</th><th scope="col">Subject</th><th scope="col">States</th><th scope="col">Granted</th><th scope="col">By</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {grants.value.grants.map((grant) => <GrantRow key={`${grant.role} ${grant.subject} ${grant.glob}`} grant={grant} changed={changed} />)}
        </tbody>
      </table>
    )}
    <AddGrant subjects={subjects} changed={changed} />
  </section>
);
