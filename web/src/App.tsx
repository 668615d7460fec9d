/**
 * The dashboard shell: finds out who is signed in (GET /v1/session), shows the sign-in page
 * when nobody is, and otherwise the navigation and the page the path names.
 */
import { useCallback, useEffect, useState } from 'react';
import { api, setCsrfToken, setUnauthorizedHandler, type SessionBody, type SessionUser } from './api.js';
import { Link, navigate, useLocation } from './router.js';
import { SignIn } from './pages/SignIn.js';
import { Overview } from './pages/Overview.js';
import { Rollout } from './pages/Rollout.js';
import { History } from './pages/History.js';
import { Audit } from './pages/Audit.js';
import { Freezes } from './pages/Freezes.js';
import { Dora } from './pages/Dora.js';
import { Service } from './pages/Service.js';

const NAV: Array<[string, string]> = [
  ['/', 'Overview'], ['/history', 'History'], ['/freezes', 'Freezes & windows'], ['/audit', 'Audit log'], ['/dora', 'DORA metrics'],
];

/** The user's roles as one line: "admin everywhere", "deployer in dev, viewer in prod". */
function rolesText(user: SessionUser): string {
  const entries = Object.entries(user.roles);
  if (entries.length === 0) return 'no role';
  return entries.map(([env, role]) => (env === '*' ? `${role} everywhere` : `${role} in ${env}`)).join(', ');
}

export function App() {
  const [user, setUser] = useState<SessionUser | null | undefined>(undefined);
  const { path } = useLocation();

  const signedIn = useCallback((body: SessionBody) => {
    setCsrfToken(body.csrfToken);
    setUser(body.user);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => { setCsrfToken(null); setUser(null); });
    api<SessionBody>('GET', '/v1/session', undefined, { quiet401: true }).then(signedIn, () => setUser(null));
    return () => setUnauthorizedHandler(null);
  }, [signedIn]);

  const signOut = async () => {
    await api('DELETE', '/v1/session', undefined, { quiet401: true }).catch(() => undefined);
    setCsrfToken(null);
    setUser(null);
    navigate('/');
  };

  if (user === undefined) return <main className="page"><p>Loading…</p></main>;
  if (user === null) return <SignIn onSignedIn={signedIn} />;

  const deployment = /^\/deployments\/([^/]+)$/.exec(path);
  let page;
  const serviceEnv = /^\/services\/([^/]+)\/([^/]+)$/.exec(path);
  if (deployment) page = <Rollout id={decodeURIComponent(deployment[1])} user={user} />;
  else if (serviceEnv) page = <Service key={path} service={decodeURIComponent(serviceEnv[1])} environment={decodeURIComponent(serviceEnv[2])} />;
  else if (path === '/history') page = <History />;
  else if (path === '/audit') page = <Audit />;
  else if (path === '/freezes') page = <Freezes user={user} />;
  else if (path === '/dora') page = <Dora />;
  else if (path === '/') page = <Overview />;
  else page = <section><h1>Not found</h1><p>No page at {path}. <Link to="/">Back to the overview</Link></p></section>;

  return (
    <>
      <header className="top">
        <span className="brand">Gangway</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}><Link to={to} aria-current={path === to ? 'page' : undefined}>{label}</Link></li>
            ))}
          </ul>
        </nav>
        <span className="who" aria-label="Signed in as">{user.name} · {rolesText(user)}</span>
        <button type="button" className="secondary" onClick={() => { void signOut(); }}>Sign out</button>
      </header>
      <main className="page">{page}</main>
    </>
  );
}
