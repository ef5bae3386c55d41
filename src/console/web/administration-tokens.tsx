import { useState } from 'preact/hooks';
import { send } from './api.js';
import { Confirm, fieldsOf, Problem, SecretBox, useAction, type AccessToken } from './administration-parts.js';
import { Pending } from './pending.js';
import { Time } from './time.js';
import type { Loaded } from './use-api.js';

interface NewToken {
  readonly name: string;
  readonly secret: string;
  readonly expires_at: string | null;
}

const Expiry = ({ at }: { readonly at: string | null }) => {
  if (at === null) return <span class="muted">never</span>;
  return new Date(at).getTime() <= Date.now() ? <span class="stale">expired <Time iso={at} /></span> : <Time iso={at} />;
};

const TokenRow = ({ token, changed }: { readonly token: AccessToken; readonly changed: () => void }) => {
  const revocation = useAction();
  const revoke = async () => {
    if ((await revocation.run(() => send(`/access/tokens/${encodeURIComponent(token.name)}`, 'DELETE'))) !== undefined) changed();
  };
  return (
    <>
      <tr>
        <th scope="row">{token.name}</th>
        <td><Time iso={token.created_at} /></td>
        <td>{token.created_by}</td>
        <td><Expiry at={token.expires_at} /></td>
        <td>{token.last_used_at === null ? <span class="muted">never</span> : <Time iso={token.last_used_at} />}</td>
        <td class="actions"><Confirm verb="Revoke" what={`token ${token.name}`} busy={revocation.busy} onConfirm={() => void revoke()} /></td>
      </tr>
      {revocation.error !== undefined && (
        <tr class="detail"><td colSpan={6}><Problem error={revocation.error} /></td></tr>
      )}
    </>
  );
};

/** POST /access/tokens: a name and an optional expiry; the answer holds the secret, once. */
const CreateToken = ({ changed, onCreated }: { readonly changed: () => void; readonly onCreated: (token: NewToken | undefined) => void }) => {
  const { busy, error, run } = useAction();
  const create = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const field = fieldsOf(form);
    const name = field('name').trim();
    const expires = field('expires').trim();
    onCreated(undefined);
    const created = await run(() => send<NewToken>('/access/tokens', 'POST', expires === '' ? { name } : { name, expires }));
    if (created === undefined) return;
    form.reset();
    onCreated(created.value);
    changed();
  };
  return (
    <form class="access-form" onSubmit={create} aria-labelledby="create-token-title">
      <h3 id="create-token-title">Create a token</h3>
      <div class="fields">
        <label>Name <input name="name" required autoComplete="off" spellcheck={false} placeholder="ci-deploy" /></label>
        <label>Expires (optional) <input name="expires" autoComplete="off" spellcheck={false} placeholder="30d" aria-describedby="create-token-hint" /></label>
        <button type="submit" disabled={busy}>Create token</button>
      </div>
      <p id="create-token-hint" class="hint muted">
        A duration such as <code>30d</code>, <code>12h</code>, <code>90m</code> or <code>2w</code>, or a time such as <code>2027-06-30T00:00:00Z</code>; empty: it never expires.
      </p>
      <Problem error={error} />
    </form>
  );
};

const NewSecret = ({ token, onDone }: { readonly token: NewToken; readonly onDone: () => void }) => (
  <SecretBox title={`Secret of the new token ${token.name}`} label={`secret of token ${token.name}`} secret={token.secret} onDone={onDone}>
    <p>
      Send it as <code>Authorization: Bearer …</code> (OpenTofu's <code>headers</code>), or with Terraform as <code>TF_HTTP_USERNAME=token</code> and the secret in <code>TF_HTTP_PASSWORD</code>.{' '}
      {token.expires_at === null ? 'It never expires.' : <>It expires <Time iso={token.expires_at} />.</>} It may do nothing until a grant to <code>token:{token.name}</code> gives it a role (below).
    </p>
  </SecretBox>
);

export const TokensSection = ({ tokens, changed }: { readonly tokens: Loaded<{ tokens: AccessToken[] }>; readonly changed: () => void }) => {
  const [created, setCreated] = useState<NewToken | undefined>(undefined);
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      {tokens.kind !== 'ok' ? <Pending loaded={tokens} /> : tokens.value.tokens.length === 0 ? (
        <p class="muted empty">No tokens yet: create one for CI below.</p>
      ) : (
        <table class="access">
          <thead>
            <tr>
              <th scope="col">Name</th><th scope="col">Created</th><th scope="col">By</th><th scope="col">Expires</th><th scope="col">Last used</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>{tokens.value.tokens.map((token) => <TokenRow key={token.name} token={token} changed={changed} />)}</tbody>
        </table>
      )}
      {created !== undefined && <NewSecret token={created} onDone={() => setCreated(undefined)} />}
      <CreateToken changed={changed} onCreated={setCreated} />
    </section>
  );
};
