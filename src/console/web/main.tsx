import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { managesAccess, roleOn } from '../../access/roles.js';
import { Administration } from './administration.js';
import { api, ApiError, type Me } from './api.js';
import { forgetEarly } from './early.js';
import { LiveEvents, useLiveConnected } from './live.js';
import { LocksPage } from './locks-page.js';
import { Overview } from './overview.js';
import { SignIn } from './sign-in.js';
import { routeOf, type Route } from './routes.js';
import { StatePage } from './state-page.js';
import { Time } from './time.js';

const useRoute = (): Route => {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const changed = () => {
      forgetEarly(); // what boot.ts asked for was for the page the tab opened on
      setRoute(routeOf(location.hash));
    };
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

/** Who the tab's session acts for (null: nobody signed in), or why the server could not say. */
type Start = { readonly me: Me | null } | { readonly problem: string };

const App = ({ start }: { readonly start: Start }) => {
  const [me, setMe] = useState('me' in start ? start.me : null);
  const route = useRoute();
  // What boot.ts asked for before the caller was known is not for whoever signs in next.
  const signedOut = () => {
    forgetEarly();
    setMe(null);
  };
  if ('problem' in start) return <p role="alert" class="error">The server could not be reached: {start.problem}</p>;
  if (me === null) return <SignIn onSignedIn={setMe} />;
  const signOut = async () => {
    await api('/ui/session', { method: 'DELETE' }).catch(() => undefined);
    signedOut();
  };
  const current = (page: Route['page']) => (route.page === page ? 'page' : undefined);
  return (
    <LiveEvents onSessionEnded={signedOut}>
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

// The app is drawn once the session is known (its request was preloaded by the page), not before:
// a first drawing of "Loading…" would cost the new tab a frame.
void api<Me>('/ui/session')
  .then((me): Start => ({ me }))
  .catch((error: unknown): Start => {
    forgetEarly();
    return error instanceof ApiError && error.status === 401 ? { me: null } : { problem: String((error as Error).message) };
  })
  .then((start) => {
    const root = document.getElementById('app')!;
    root.replaceChildren(); // the page's own "Loading…", which Preact would otherwise keep beside the app
    render(<App start={start} />, root);
  });
