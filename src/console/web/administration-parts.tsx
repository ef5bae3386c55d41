import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Role } from '../../access/roles.js';
import { ApiError } from './api.js';

/** The access lists as GET /access/users, /access/tokens and /access/grants answer them. */
export interface AccessUser {
  readonly name: string;
  readonly has_password: boolean;
  readonly updated_at: string;
  readonly updated_by: string;
}

export interface AccessToken {
  readonly name: string;
  readonly created_at: string;
  readonly created_by: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
}

export interface AccessGrant {
  readonly role: Role;
  readonly subject: string;
  readonly glob: string;
  readonly granted_at: string;
  readonly granted_by: string;
}

/** The form's fields as text, trimmed (passwords are read as typed). */
export const fieldsOf = (form: HTMLFormElement): ((name: string) => string) => {
  const data = new FormData(form);
  return (name) => String(data.get(name) ?? '');
};

/** A change through the API: whether it is under way, and the API's sentence when it failed. */
export const useAction = () => {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  /** Runs the change; its answer, or undefined when it failed (the error is then shown). */
  const run = async <T,>(change: () => Promise<T>): Promise<{ readonly value: T } | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return { value: await change() };
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : `the server could not be reached: ${(failure as Error).message}`);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, clear: () => setError(undefined) };
};

/** The sentence of a failed change, next to what caused it. */
export const Problem = ({ id, error }: { readonly id?: string; readonly error: string | undefined }) =>
  error === undefined ? null : <p id={id} role="alert" class="error">{error}</p>;

/**
 * A destructive button that asks first, in place: "Revoke token ci? [Yes, revoke] [Cancel]".
 * Focus goes to Cancel when it asks and back to the button when it stops; Escape cancels.
 */
export const Confirm = ({ verb, what, busy, onConfirm }: { readonly verb: string; readonly what: string; readonly busy: boolean; readonly onConfirm: () => void }) => {
  const [asking, setAsking] = useState(false);
  const start = useRef<HTMLButtonElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (asking) cancel.current?.focus();
    else if (asked.current) start.current?.focus();
    asked.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" ref={start} disabled={busy} onClick={() => setAsking(true)}>
        {verb}<span class="visually-hidden"> {what}</span>
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={`${verb} ${what}?`} onKeyDown={(event) => event.key === 'Escape' && setAsking(false)}>
      <span>{verb} {what}?</span>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        Yes, {verb.toLowerCase()}<span class="visually-hidden"> {what}</span>
      </button>
      <button type="button" ref={cancel} onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
};

/**
 * A secret the API answers once (a token's secret, a generated password): shown in a marked box
 * with a Copy button until dismissed; it is kept nowhere else, so a reload forgets it.
 */
export const SecretBox = ({ title, label, secret, children, onDone }: {
  readonly title: string;
  readonly label: string;
  readonly secret: string;
  readonly children?: ComponentChildren;
  readonly onDone: () => void;
}) => {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  const [copied, setCopied] = useState('');
  useEffect(() => box.current?.focus(), [secret]);
  const copy = () =>
    navigator.clipboard.writeText(secret).then(
      () => setCopied('Copied to the clipboard.'),
      () => setCopied('The browser would not copy it: select the text and copy it yourself.'),
    );
  return (
    <div class="secret" role="region" aria-labelledby={`${id}-title`} tabIndex={-1} ref={box}>
      <h3 id={`${id}-title`}>{title}</h3>
      <p class="secret-line">
        <code aria-label={label}>{secret}</code>
        <button type="button" onClick={copy}>Copy</button>
        <span role="status" class="muted">{copied}</span>
      </p>
      {children}
      <p class="secret-note"><strong>It will not be shown again:</strong> the ledger keeps only a hash of it. Copy it now.</p>
      <button type="button" onClick={onDone}>Done, hide it</button>
    </div>
  );
};
