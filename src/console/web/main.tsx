import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { roleOn } from '../../access/roles.js';
import { api, ApiError, type Me } from './api.js';
import { SignIn } from './sign-in.js';
import { Overview } from './overview.js';
import { StatePage } from './state-page.js';
import { Time } from './time.js';

/** Where the hash points: `#/` the overview, `#/states/NAME` a state. */
type Route = { readonly page: 'overview' } | { readonly page: 'state'; readonly name: string };

const routeOf = (hash: string): Route => {
  const match = /^#\/states\/(.+)$/.exec(hash);
  return match?.[1] === undefined ? { page: 'overview' } : { page: 'state', name: decodeURIComponent(match[1]) };
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
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">state-ledger</a>
        <nav aria-label="main">
          <a href="#/" aria-current={route.page === 'overview' ? 'page' : undefined}>States</a>
        </nav>
        <span class="who" title="signed in as">{me.actor}</span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <main>
        {route.page === 'overview' ? <Overview /> : <StatePage name={route.name} role={roleOn(me.grants, route.name)} />}
      </main>
      <footer>
        Times are shown in your browser's zone (hover for the exact instant). Loaded <Time iso={new Date().toISOString()} />.
      </footer>
    </>
  );
};

render(<App />, document.getElementById('app')!);
