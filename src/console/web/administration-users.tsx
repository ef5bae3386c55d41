import { useState } from 'preact/hooks';
import { send } from './api.js';
import { Confirm, fieldsOf, Problem, SecretBox, useAction, type AccessUser } from './administration-parts.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import type { Loaded } from './use-api.js';

const userPath = (name: string) => `/access/users/${encodeURIComponent(name)}`;

/** A new password for one user (PUT /access/users/NAME/password). */
const PasswordForm = ({ name, onDone }: { readonly name: string; readonly onDone: (saved: boolean) => void }) => {
  const { busy, error, run } = useAction();
  const save = async (event: SubmitEvent) => {
    event.preventDefault();
    const password = fieldsOf(event.currentTarget as HTMLFormElement)('password');
    if ((await run(() => send(`${userPath(name)}/password`, 'PUT', { password }))) !== undefined) onDone(true);
  };
  return (
    <form class="access-form" onSubmit={save} aria-label={`Set the password of ${name}`} onKeyDown={(event) => event.key === 'Escape' && onDone(false)}>
      <div class="fields">
        <label>New password for {name} <input name="password" type="password" autoComplete="new-password" required autoFocus /></label>
        <button type="submit" disabled={busy}>Save password</button>
        <button type="button" onClick={() => onDone(false)}>Cancel</button>
      </div>
      <p class="hint muted">12 to 1,024 characters. Sessions and clients using the old one stop working.</p>
      <Problem error={error} />
    </form>
  );
};

const UserRow = ({ user, changed }: { readonly user: AccessUser; readonly changed: () => void }) => {
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState('');
  const removal = useAction();
  const remove = async () => {
    if ((await removal.run(() => send(userPath(user.name), 'DELETE'))) !== undefined) changed();
  };
  const passwordDone = (saved: boolean) => {
    setEditing(false);
    if (!saved) return;
    setNotice(`The password of ${user.name} is changed.`);
    changed();
  };
  return (
    <>
      <tr>
        <th scope="row">{user.name}</th>
        <td>{user.has_password ? 'set' : <span class="muted" title="signs in with a client certificate only, until a password is set">none</span>}</td>
        <td><Time iso={user.updated_at} /></td>
        <td>{user.updated_by}</td>
        <td class="actions">
          <button type="button" disabled={editing} onClick={() => { setNotice(''); setEditing(true); }}>
            Set password<span class="visually-hidden"> of {user.name}</span>
          </button>
          <Confirm verb="Remove" what={`user ${user.name}`} busy={removal.busy} onConfirm={() => void remove()} />
        </td>
      </tr>
      {(editing || removal.error !== undefined || notice !== '') && (
        <tr class="detail">
          <td colSpan={5}>
            {editing && <PasswordForm name={user.name} onDone={passwordDone} />}
            <Problem error={removal.error} />
            {notice !== '' && <p role="status" class="done">{notice}</p>}
          </td>
        </tr>
      )}
    </>
  );
};

/** POST /access/users: with a password, or without one to have it generated (and answered once). */
const AddUser = ({ changed, onGenerated }: { readonly changed: () => void; readonly onGenerated: (generated: { name: string; password: string } | undefined) => void }) => {
  const { busy, error, run } = useAction();
  const add = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const field = fieldsOf(form);
    const name = field('name').trim();
    const password = field('password');
    onGenerated(undefined);
    const added = await run(() => send<{ name: string; password?: string }>('/access/users', 'POST', password === '' ? { name } : { name, password }));
    if (added === undefined) return;
    form.reset();
    if (added.value.password !== undefined) onGenerated({ name, password: added.value.password });
    changed();
  };
  return (
    <form class="access-form" onSubmit={add} aria-labelledby="add-user-title">
      <h3 id="add-user-title">Add a user</h3>
      <div class="fields">
        <label>Name <input name="name" required autoComplete="off" spellcheck={false} /></label>
        <label>Password (optional) <input name="password" type="password" autoComplete="new-password" aria-describedby="add-user-hint" /></label>
        <button type="submit" disabled={busy}>Add user</button>
      </div>
      <p id="add-user-hint" class="hint muted">Names are letters, digits, ".", "_", "@" or "-". A password has 12 characters or more; leave it empty to have one generated, shown once.</p>
      <Problem error={error} />
    </form>
  );
};

export const UsersSection = ({ users, changed }: { readonly users: Loaded<{ users: AccessUser[] }>; readonly changed: () => void }) => {
  const [generated, setGenerated] = useState<{ name: string; password: string } | undefined>(undefined);
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      {users.kind !== 'ok' ? <Pending loaded={users} /> : users.value.users.length === 0 ? (
        <p class="muted empty">No users yet: add one below, then grant them a role.</p>
      ) : (
        <table class="access">
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Password</th><th scope="col">Updated</th><th scope="col">By</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
          </thead>
          <tbody>{users.value.users.map((user) => <UserRow key={user.name} user={user} changed={changed} />)}</tbody>
        </table>
      )}
      {generated !== undefined && (
        <SecretBox title={`Password for ${generated.name}`} label={`generated password for ${generated.name}`} secret={generated.password} onDone={() => setGenerated(undefined)}>
          <p>Give it to {generated.name} over a private channel; they can sign in with it at once.</p>
        </SecretBox>
      )}
      <AddUser changed={changed} onGenerated={setGenerated} />
    </section>
  );
};
