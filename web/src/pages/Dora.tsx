/** DORA metrics per service and environment over a chosen period (GET /v1/dora?days=N). */
import { useState } from 'react';
import type { DoraMetrics } from '../api.js';
import { formatDuration, formatPercent, usePoll } from '../hooks.js';

export function Dora() {
  const [days, setDays] = useState('30');
  const { data, error } = usePoll<DoraMetrics[]>(`/v1/dora?days=${days}`, 30_000);
  return (
    <section>
      <h1>DORA metrics</h1>
      <div className="filters">
        <span className="filter">
          <label htmlFor="d-days">Period</label>
          <select id="d-days" value={days} onChange={(e) => setDays(e.target.value)}>
            {['7', '30', '90'].map((d) => <option key={d} value={d}>last {d} days</option>)}
          </select>
        </span>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {!data ? <p>Loading…</p> : data.length === 0 ? <p>No deployments in this period.</p> : (
        <table className="list">
          <caption>Lead time counts deployments that carried the release's commit time; change failures include rollbacks and aborts.</caption>
          <thead>
            <tr>
              <th scope="col">Service</th><th scope="col">Environment</th><th scope="col">Deployment frequency</th>
              <th scope="col">Lead time for changes (median)</th><th scope="col">Change failure rate</th><th scope="col">Time to restore (median)</th>
            </tr>
          </thead>
          <tbody>
            {data.map((r) => (
              <tr key={`${r.service}/${r.environment}`}>
                <td>{r.service}</td><td>{r.environment}</td>
                <td>{r.deploymentFrequency.count} ({r.deploymentFrequency.perDay.toFixed(2)} per day)</td>
                <td>{formatDuration(r.leadTime.medianMs)}{r.leadTime.count ? ` over ${r.leadTime.count}` : ''}</td>
                <td>{formatPercent(r.changeFailureRate.rate)} ({r.changeFailureRate.failed} of {r.changeFailureRate.total})</td>
                <td>{formatDuration(r.timeToRestore.medianMs)}{r.timeToRestore.count ? ` over ${r.timeToRestore.count}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
