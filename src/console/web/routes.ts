import { isStateName } from '../../events/state-name.js';

/** The console's addresses: `#/` the overview, `#/states/NAME` a state, `#/locks`, `#/admin`. */
export type Route = { readonly page: 'overview' | 'locks' | 'admin' } | { readonly page: 'state'; readonly name: string };

export const stateHref = (name: string): string => `#/states/${encodeURIComponent(name)}`;

const decoded = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined; // malformed percent-encoding
  }
};

export const routeOf = (hash: string): Route => {
  if (hash === '#/locks') return { page: 'locks' };
  if (hash === '#/admin') return { page: 'admin' };
  const match = /^#\/states\/(.+)$/.exec(hash);
  const name = match?.[1] === undefined ? undefined : decoded(match[1]);
  // Only a real state name: `..` segments would let the page show one state's role and ask for another's.
  return name !== undefined && isStateName(name) ? { page: 'state', name } : { page: 'overview' };
};
