import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { managesAccess, roleOn } from '../../access/roles.js';
import { isStateName } from '../../events/state-name.js';
import { Administration } from './administration.js';
import { api, ApiError, type Me } from './api.js';
import { LiveEvents, useLiveConnected } from './live.js';
import { LocksPage } from './locks-page.js';
import { Overview } from './overview.js';
import { SignIn } from './sign-in.js';
import { StatePage } from './state-page.js';
import { Time } from './time.js';

/** Where the hash points: `#/` the overview, `#/states/NAME` a state, `#/locks`, `#/admin`. */
type Route = { readonly page: 'overview' | 'locks' | 'admin' } | { readonly page: 'state'; readonly name: string };

const decoded = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined; // malformed percent-encoding
  }
};

const routeOf = (hash: string): Route => {
  if (hash === '#/locks') return { page: 'locks' };
  if (hash === '#/admin') return { page: 'admin' };
  const match = /^#\/states\/(.+)$/.exec(hash);
  const name = match?.[1] === undefined ? undefined : decoded(match[1]);
  // Only a real state name: `..` segments would let the page show one state's role and ask for another's.
  return name !== undefined && isStateName(name) ? { page: 'state', name } : { page: 'overview' };
};

const useRoute = (): Route => {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const changed = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
};

const LiveIndicator = () =>
  useLiveConnected() ? <span class="live on" title="following the ledger's event stream">live</span> : <span class="live" title="reconnecting to the event stream">offline</span>;

const Page = ({ route, me }: { readonly route: Route; readonly me: Me }) => {
  switch (route.page) {
    case 'overview':
      return <Overview />;
    case 'locks':
      return <LocksPage grants={me.grants} />;
    case 'admin':
      return managesAccess(me.grants) ? <Administration /> : <p role="alert" class="error">Managing access needs the admin role on every state (a grant of admin on *).</p>;
    case 'state':
      // Keyed by name: nothing chosen on one state's page (a rollback target, a page cursor) carries over to another.
      return <StatePage key={route.name} name={route.name} role={roleOn(me.grants, route.name)} />;
  }
};

const App = () => {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    api<Me>('/ui/session')
      .then(setMe)
      .catch((error: unknown) => (error instanceof ApiError && error.status === 401 ? setMe(null) : setProblem(String((error as Error).message))));
  }, []);
  if (problem !== undefined) return <p role="alert" class="error">The server could not be reached: {problem}</p>;
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={setMe} />;
  const signOut = async () => {
    await api('/ui/session', { method: 'DELETE' }).catch(() => undefined);
    setMe(null);
  };
  const current = (page: Route['page']) => (route.page === page ? 'page' : undefined);
  return (
    <LiveEvents onSessionEnded={() => setMe(null)}>
      <header class="top">
        <a class="brand" href="#/">state-ledger</a>
        <nav aria-label="main">
          <a href="#/" aria-current={current('overview')}>States</a>
          <a href="#/locks" aria-current={current('locks')}>Locks</a>
          {managesAccess(me.grants) && <a href="#/admin" aria-current={current('admin')}>Access</a>}
        </nav>
        <LiveIndicator />
        <span class="who" title="signed in as">{me.actor}</span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <main>
        <Page route={route} me={me} />
      </main>
      <footer>
        Times are shown in your browser's zone (hover for the exact instant). Loaded <Time iso={new Date().toISOString()} />.
      </footer>
    </LiveEvents>
  );
};

const root = document.getElementById('app')!;
root.replaceChildren(); // the page's own "Loading…", which Preact would otherwise keep beside the app
render(<App />, root);
