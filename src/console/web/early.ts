/**
 * The answers boot.ts asked for while the page loaded, each handed out once, to the first request
 * of the same path. Forgotten when the caller turns out not to be signed in or moves to another
 * page: an answer for a signed-out caller, or an old one, must not stand in for a fresh request.
 */

/** Where boot.ts leaves its requests for the app. */
export const EARLY_REQUESTS = 'stateLedgerEarlyRequests';

const requests = (): Map<string, Promise<Response>> | undefined => (globalThis as Record<string, unknown>)[EARLY_REQUESTS] as Map<string, Promise<Response>> | undefined;

export const takeEarly = (path: string): Promise<Response> | undefined => {
  const early = requests()?.get(path);
  requests()?.delete(path);
  return early;
};

export const forgetEarly = (): void => requests()?.clear();
