/**
 * Deployments, newest first, filtered by service, environment and phase (GET /v1/deployments),
 * under the latest releases of several services (GET /v1/releases), one row per service.
 */
import type { DeploymentView, ReleaseView, StatusEntry } from '../api.js';
import { formatTime, phaseLabel, usePoll } from '../hooks.js';
import { Link, navigate, useLocation } from '../router.js';

const PHASES = ['queued', 'waiting', 'running', 'paused', 'succeeded', 'failed', 'rolling_back', 'rolled_back', 'aborted', 'superseded'];

export function History() {
  const { query } = useLocation();
  const service = query.get('service') ?? '';
  const environment = query.get('environment') ?? '';
  const phase = query.get('phase') ?? '';
  const params = new URLSearchParams({ limit: '200' });
  if (service) params.set('service', service);
  if (environment) params.set('environment', environment);
  const { data, error } = usePoll<DeploymentView[]>(`/v1/deployments?${params}`, 3000);
  const pairs = usePoll<StatusEntry[]>('/v1/status').data ?? [];
  const services = [...new Set(pairs.map((e) => e.service))];
  const environments = [...new Set(pairs.map((e) => e.environment))];
  // The API filters by service and environment; the phase is a view over what it returned.
  const rows = (data ?? []).filter((d) => !phase || d.phase === phase);

  const set = (key: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value); else next.delete(key);
    navigate(`/history${next.size ? `?${next}` : ''}`);
  };

  const filter = (id: string, label: string, value: string, options: string[], key: string) => (
    <span className="filter">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => set(key, e.target.value)}>
        <option value="">all</option>
        {options.map((o) => <option key={o} value={o}>{key === 'phase' ? phaseLabel(o) : o}</option>)}
      </select>
    </span>
  );

  return (
    <section>
      <h1>History</h1>
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        {filter('f-service', 'Service', service, services, 'service')}
        {filter('f-environment', 'Environment', environment, environments, 'environment')}
        {filter('f-phase', 'Phase', phase, PHASES, 'phase')}
      </form>
      <Releases environment={environment} />
      {error && <p role="alert" className="error">{error}</p>}
      {!data ? <p>Loading…</p> : rows.length === 0 ? <p>No deployments match.</p> : (
        <table className="list">
          <caption>{rows.length} deployment{rows.length === 1 ? '' : 's'}</caption>
          <thead><tr><th scope="col">Requested</th><th scope="col">Service</th><th scope="col">Environment</th><th scope="col">Release</th><th scope="col">Kind</th><th scope="col">Phase</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">Ended</th></tr></thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id}>
                <td><Link to={`/deployments/${encodeURIComponent(d.id)}`}>{formatTime(d.createdAt)}</Link></td>
                <td>{d.service}</td><td>{d.environment}</td><td>{d.version}</td><td>{d.kind}</td>
                <td><span className={`badge phase-${d.phase}`}>{phaseLabel(d.phase)}</span></td>
                <td>{d.actor}</td><td>{d.reason ?? ''}</td><td>{formatTime(d.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The latest releases of several services (at most 5), each a table with one row per service and its state. */
function Releases({ environment }: { environment: string }) {
  const params = new URLSearchParams({ limit: '5' });
  if (environment) params.set('environment', environment);
  const releases = usePoll<ReleaseView[]>(`/v1/releases?${params}`, 3000).data ?? [];
  if (releases.length === 0) return null;
  return (
    <section aria-label="Releases of several services">
      <h2>Releases</h2>
      {releases.map((r) => (
        <table className="list" key={r.id} aria-label={`release ${r.id}`}>
          <caption>
            {r.id} to {r.environment}: <span className={`badge phase-${r.phase}`}>{phaseLabel(r.phase)}</span> — {formatTime(r.createdAt)} by {r.actor}
            {r.message ? ` — ${r.message}` : ''}
          </caption>
          <thead><tr><th scope="col">Service</th><th scope="col">Release</th><th scope="col">After</th><th scope="col">State</th><th scope="col">Step</th><th scope="col">Rollback</th></tr></thead>
          <tbody>
            {r.services.map((s) => (
              <tr key={s.service}>
                <td>{s.deploymentId ? <Link to={`/deployments/${encodeURIComponent(s.deploymentId)}`}>{s.service}</Link> : s.service}</td>
                <td>{s.version}</td><td>{s.dependsOn.join(', ')}</td>
                <td><span className={`badge phase-${s.state}`}>{phaseLabel(s.state)}</span></td>
                <td>{s.step ?? ''}</td>
                <td>{s.rollback ? `to ${s.rollback.version}: ${phaseLabel(s.rollback.phase)}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}
