/**
 * Freezes (GET /v1/freezes) with freeze and lift for admins, and each environment's
 * deployment-window state and next opening (GET /v1/windows).
 */
import { useState, type FormEvent } from 'react';
import { api, describeError, type FreezeRecord, type SessionUser, type StatusEntry, type WindowStateView } from '../api.js';
import { can } from '../roles.js';
import { formatTime, usePoll } from '../hooks.js';

function FreezeForm({ user, environments, onDone }: { user: SessionUser; environments: string[]; onDone: () => void }) {
  const allowed = environments.filter((e) => can(user, e, 'admin'));
  const everywhere = can(user, '*', 'admin');
  const [environment, setEnvironment] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  if (allowed.length === 0 && !everywhere) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', '/v1/freezes', { environment: environment || undefined, reason });
      setReason('');
      onDone();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="inline-form" aria-label="Freeze deployments" onSubmit={(e) => { void submit(e); }}>
      <label htmlFor="fz-env">Environment</label>
      <select id="fz-env" value={environment} onChange={(e) => setEnvironment(e.target.value)}>
        {everywhere && <option value="">every environment</option>}
        {!everywhere && environment === '' && <option value="" disabled>choose…</option>}
        {allowed.map((env) => <option key={env} value={env}>{env}</option>)}
      </select>
      <label htmlFor="fz-reason">Reason</label>
      <input id="fz-reason" required maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
      <button type="submit">Freeze</button>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

export function Freezes({ user }: { user: SessionUser }) {
  const [all, setAll] = useState(false);
  const freezes = usePoll<FreezeRecord[]>(`/v1/freezes${all ? '?all=true' : ''}`, 5000);
  const windows = usePoll<WindowStateView[]>('/v1/windows', 30_000);
  const environments = [...new Set((usePoll<StatusEntry[]>('/v1/status').data ?? []).map((e) => e.environment))];
  const [error, setError] = useState<string | null>(null);

  const lift = async (f: FreezeRecord) => {
    setError(null);
    try {
      await api('POST', `/v1/freezes/${encodeURIComponent(f.id)}/lift`, {});
      freezes.reload();
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <section>
      <h1>Freezes</h1>
      <FreezeForm user={user} environments={environments} onDone={freezes.reload} />
      <label className="check"><input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> show lifted freezes too</label>
      {(freezes.error || error) && <p role="alert" className="error">{error ?? freezes.error}</p>}
      {!freezes.data ? <p>Loading…</p> : freezes.data.length === 0 ? <p>No freezes: deployments are not blocked by a freeze.</p> : (
        <table className="list">
          <thead><tr><th scope="col">Scope</th><th scope="col">Reason</th><th scope="col">Owner</th><th scope="col">Source</th><th scope="col">Since</th><th scope="col">Lifted</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {freezes.data.map((f) => (
              <tr key={f.id}>
                <td>{f.environment ?? 'every environment'}{f.service ? ` / ${f.service}` : ''}</td>
                <td>{f.reason}</td><td>{f.owner}</td><td>{f.source}</td><td>{formatTime(f.createdAt)}</td>
                <td>{f.liftedAt ? `${formatTime(f.liftedAt)} by ${f.liftedBy ?? '?'}` : ''}</td>
                <td>{!f.liftedAt && can(user, f.environment ?? '*', 'admin') && <button type="button" className="secondary" onClick={() => { void lift(f); }}>Lift</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h1>Deployment windows</h1>
      {windows.error && <p role="alert" className="error">{windows.error}</p>}
      {!windows.data ? <p>Loading…</p> : (
        <table className="list">
          <thead><tr><th scope="col">Environment</th><th scope="col">Now</th><th scope="col">Why</th><th scope="col">Next open</th><th scope="col">Windows</th></tr></thead>
          <tbody>
            {windows.data.map((w) => (
              <tr key={w.environment}>
                <td>{w.environment}</td>
                <td><span className={`badge gate-${w.open ? 'pass' : 'wait'}`}>{w.open ? 'open' : 'closed'}</span></td>
                <td>{w.reason}</td>
                <td>{w.open ? 'now' : w.nextOpen === null ? w.nextOpenText : `${formatTime(w.nextOpen)} (${w.nextOpenText})`}</td>
                <td>{w.windows.length === 0 ? 'none' : (
                  <ul className="plain">{w.windows.map((x, i) => <li key={i}>{x.window}{x.inside ? ' — inside now' : ''}</li>)}</ul>
                )}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
