/** The audit log (GET /v1/events, oldest first, in pages) and a check of its hash chain (GET /v1/audit/verify). */
import { useEffect, useState } from 'react';
import { api, describeError, type EventRecord } from '../api.js';
import { formatTime } from '../hooks.js';
import { Link } from '../router.js';

const PAGE = 200;

function summary(e: EventRecord): string {
  const data = e.data;
  const phase = typeof data.from === 'string' && typeof data.to === 'string' ? [`${data.from} → ${data.to}`] : [];
  const parts = ['actor', 'user', 'principal', 'method', 'phase', 'title', 'version', 'reason', 'message', 'route']
    .filter((k) => data[k] !== undefined && data[k] !== null && typeof data[k] !== 'object')
    .map((k) => `${k}: ${String(data[k])}`);
  return [...phase, ...parts].join(' · ');
}

export function Audit() {
  const [events, setEvents] = useState<EventRecord[]>([]);
  const [more, setMore] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [type, setType] = useState('');
  const [verify, setVerify] = useState<string | null>(null);

  const load = async (after: number) => {
    try {
      const page = await api<EventRecord[]>('GET', `/v1/events?after=${after}&limit=${PAGE}`);
      setEvents((prev) => [...prev, ...page]);
      setMore(page.length === PAGE);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => { void load(0); }, []);

  const check = async () => {
    try {
      const r = await api<{ ok: boolean; checked?: number; problems?: unknown[]; firstBad?: unknown }>('GET', '/v1/audit/verify');
      setVerify(r.ok ? `The chain is intact${r.checked !== undefined ? ` (${r.checked} events checked)` : ''}.` : `The chain is broken: ${JSON.stringify(r)}`);
    } catch (err) {
      setVerify(describeError(err));
    }
  };

  const types = [...new Set(events.map((e) => e.type))].sort();
  const shown = events.filter((e) => !type || e.type === type);
  return (
    <section>
      <h1>Audit log</h1>
      <div className="filters">
        <span className="filter">
          <label htmlFor="a-type">Event type</label>
          <select id="a-type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">all</option>
            {types.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </span>
        <button type="button" className="secondary" onClick={() => { void check(); }}>Verify the hash chain</button>
        {verify && <span role="status">{verify}</span>}
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <table className="list">
        <caption>{shown.length} event{shown.length === 1 ? '' : 's'}{more ? ' so far' : ''}</caption>
        <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Type</th><th scope="col">Deployment</th><th scope="col">Details</th></tr></thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.id}>
              <td>{e.id}</td><td>{formatTime(e.at)}</td><td>{e.type}</td>
              <td>{e.deploymentId ? <Link to={`/deployments/${encodeURIComponent(e.deploymentId)}`}>{e.deploymentId.slice(0, 12)}</Link> : ''}</td>
              <td><details><summary>{summary(e) || 'data'}</summary><pre className="json">{JSON.stringify(e.data, null, 2)}</pre></details></td>
            </tr>
          ))}
        </tbody>
      </table>
      {more && <button type="button" onClick={() => { void load(events.at(-1)?.id ?? 0); }}>Load more</button>}
    </section>
  );
}
