import { useState } from 'preact/hooks';
import { api, type Me } from './api.js';

/** Base64 of UTF-8 text (btoa takes Latin-1 only). */
const base64 = (text: string): string => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

/** Signs in with a user's password or an API token: the server opens a session and sets its cookie. */
export const SignIn = ({ onSignedIn }: { readonly onSignedIn: (me: Me) => void }) => {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const signIn = async (authorization: string) => {
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await api<Me>('/ui/session', { method: 'POST', headers: { authorization } }));
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const withPassword = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void signIn(`Basic ${base64(`${String(form.get('user'))}:${String(form.get('password'))}`)}`);
  };
  const withToken = (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    void signIn(`Bearer ${String(form.get('token')).trim()}`);
  };
  return (
    <main class="sign-in">
      <h1>state-ledger</h1>
      {error !== undefined && <p role="alert" class="error">{error}</p>}
      <form onSubmit={withPassword} aria-label="Sign in with a password">
        <h2>Sign in</h2>
        <label>User <input name="user" autoComplete="username" required /></label>
        <label>Password <input name="password" type="password" autoComplete="current-password" required /></label>
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
      <form onSubmit={withToken} aria-label="Sign in with an API token">
        <h2>Or paste an API token</h2>
        <label>API token <input name="token" type="password" autoComplete="off" required /></label>
        <button type="submit" disabled={busy}>Use token</button>
      </form>
    </main>
  );
};
