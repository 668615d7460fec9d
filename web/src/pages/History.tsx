/** Deployments, newest first, filtered by service, environment and phase (GET /v1/deployments). */
import type { DeploymentView, StatusEntry } from '../api.js';
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
