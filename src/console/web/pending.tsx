import type { Loaded } from './use-api.js';

/** Shown in place of a section while it loads or when it failed. */
export const Pending = ({ loaded }: { readonly loaded: Loaded<unknown> }) =>
  loaded.kind === 'loading' ? <p class="loading">Loading…</p> : loaded.kind === 'failed' ? <p role="alert" class="error">{loaded.message}</p> : null;
