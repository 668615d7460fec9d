/** Sign-in with a user name and password, or with an API token (POST /v1/session). */
import { useState, type FormEvent } from 'react';
import { api, describeError, type SessionBody } from '../api.js';

export function SignIn({ onSignedIn }: { onSignedIn: (body: SessionBody) => void }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = await api<SessionBody>('POST', '/v1/session', mode === 'password' ? { username, password } : { token }, { quiet401: true });
      onSignedIn(body);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      setPassword('');
    }
  };

  return (
    <main className="signin">
      <h1>Sign in to Gangway</h1>
      <form onSubmit={(e) => { void submit(e); }} aria-label="Sign in">
        <fieldset className="mode">
          <legend>How</legend>
          <label><input type="radio" name="mode" checked={mode === 'password'} onChange={() => setMode('password')} /> with a password</label>
          <label><input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> with an API token</label>
        </fieldset>
        {mode === 'password' ? (
          <>
            <label htmlFor="username">User name</label>
            <input id="username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
            <label htmlFor="password">Password</label>
            <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </>
        ) : (
          <>
            <label htmlFor="token">API token</label>
            <input id="token" name="token" type="password" autoComplete="off" required value={token} onChange={(e) => setToken(e.target.value)} />
          </>
        )}
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <section className="signin-help" aria-label="How to get in">
        <h2>No account yet?</h2>
        <p>
          The orchestrator&apos;s admin token is in <code>.gangway/token</code> next to your <code>gangway.yaml</code>
          (readable only by the user that runs <code>gangway up</code>): sign in with it as an API token, or print it
          with <code>cat .gangway/token</code>.
        </p>
        <p>
          To give a person a password, run in the project folder:{' '}
          <code>printf %s &quot;$PASSWORD&quot; | gangway user add alice --role dev=deployer,prod=approver --password-stdin</code>{' '}
          (at least 10 characters). A token for a script: <code>gangway token create --user ci</code>.
        </p>
      </section>
    </main>
  );
}
