import { useCallback, useState } from 'preact/hooks';
import type { LedgerEvent } from './api.js';
import { GrantsSection } from './administration-grants.js';
import type { AccessGrant, AccessToken, AccessUser } from './administration-parts.js';
import { TokensSection } from './administration-tokens.js';
import { UsersSection } from './administration-users.js';
import { useLiveRefresh } from './live.js';
import { useApi } from './use-api.js';

/** Every change to access is an event of this stream (src/events/access-events.ts). */
const isAccessEvent = (event: LedgerEvent) => event.state === '$access';

/**
 * Users, tokens and grants (the /access API, for admins of `*`), by the same rules as the CLI:
 * every check is the API's, and its sentence is shown next to the form that caused it. The lists
 * are fetched again after each change made here and on each `$access` event (another admin's).
 */
export const Administration = () => {
  const [changes, setChanges] = useState(0);
  const refresh = changes + useLiveRefresh(isAccessEvent);
  const changed = useCallback(() => setChanges((n) => n + 1), []);
  const users = useApi<{ users: AccessUser[] }>('/access/users', refresh);
  const tokens = useApi<{ tokens: AccessToken[] }>('/access/tokens', refresh);
  const grants = useApi<{ grants: AccessGrant[] }>('/access/grants', refresh);
  const subjects = [
    ...(users.kind === 'ok' ? users.value.users.map((user) => `user:${user.name}`) : []),
    ...(tokens.kind === 'ok' ? tokens.value.tokens.map((token) => `token:${token.name}`) : []),
  ];
  return (
    <div class="administration">
      <h1>Access</h1>
      <p class="muted lead">
        Who may sign in, and what each may do. A change applies on the next request (within a second on other server processes) and is recorded as an event of
        the <code>$access</code> stream.
      </p>
      <UsersSection users={users} changed={changed} />
      <TokensSection tokens={tokens} changed={changed} />
      <GrantsSection grants={grants} subjects={subjects} changed={changed} />
    </div>
  );
};
