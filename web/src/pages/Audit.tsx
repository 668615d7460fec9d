/**
 * The audit log, newest first (GET /v1/events?order=desc, in pages of 100), filtered on the
 * server by type, service, environment, actor and time — the filters live in the URL, so a
 * filtered view can be shared — and a check of its hash chain (GET /v1/audit/verify).
 */
import { useEffect, useState } from 'react';
import { api, describeError, type EventRecord, type StatusEntry } from '../api.js';
import type { EventContext } from '../../../src/engine/types.js';
import { formatDuration, formatTime, usePoll } from '../hooks.js';
import { Link, navigate, useLocation } from '../router.js';

type AuditEvent = EventRecord & Partial<EventContext>;

const PAGE = 100;
/** Offered in the type filter; any other type (or `prefix.*`) can be typed. */
const TYPES = ['deployment.*', 'step.*', 'gate.*', 'freeze.*', 'release.*', 'notification.*', 'record.*', 'deployment.created', 'deployment.phase', 'deployment.approved', 'step.failed', 'freeze.created', 'auth.denied'];
const FILTERS = ['type', 'service', 'environment', 'actor', 'since', 'until'] as const;

function summary(e: EventRecord): string {
  const data = e.data;
  const phase = typeof data.from === 'string' && typeof data.to === 'string' ? [`${data.from} → ${data.to}`] : [];
  const parts = ['user', 'principal', 'method', 'phase', 'title', 'version', 'reason', 'message', 'route']
    .filter((k) => data[k] !== undefined && data[k] !== null && typeof data[k] !== 'object')
    .map((k) => `${k}: ${String(data[k])}`);
  return [...phase, ...parts].join(' · ');
}

/** A step event on one line: "step 4 ✓ traffic 0 50% / 0.2 50% (1.2 s)". */
function stepLine(e: EventRecord): string | null {
  if (!e.type.startsWith('step.')) return null;
  const d = e.data as { idx?: number; title?: string; durationMs?: number; reason?: string };
  const mark = { 'step.started': '▶', 'step.succeeded': '✓', 'step.failed': '✗', 'step.skipped': '–' }[e.type] ?? e.type.slice(5);
  const idx = typeof d.idx === 'number' ? `step ${d.idx + 1} ` : '';
  return `${idx}${mark} ${d.title ?? ''}${typeof d.durationMs === 'number' ? ` (${formatDuration(d.durationMs)})` : ''}${d.reason ? ` — ${d.reason}` : ''}`;
}

/** `datetime-local` value ⇄ epoch ms, in the browser's time zone. */
function toLocalInput(ms: string | null): string {
  if (!ms || !/^\d+$/.test(ms)) return '';
  const d = new Date(Number(ms));
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function Audit() {
  const { query } = useLocation();
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [verify, setVerify] = useState<string | null>(null);
  const [actorText, setActorText] = useState(query.get('actor') ?? '');
  const pairs = usePoll<StatusEntry[]>('/v1/status').data ?? [];
  const services = [...new Set(pairs.map((e) => e.service))];
  const environments = [...new Set(pairs.map((e) => e.environment))];
  const filterKey = FILTERS.map((k) => `${k}=${query.get(k) ?? ''}`).join('&');

  const load = async (before: number | null) => {
    const params = new URLSearchParams({ order: 'desc', limit: String(PAGE) });
    for (const k of FILTERS) { const v = query.get(k); if (v) params.set(k, v); }
    if (before !== null) params.set('before', String(before));
    try {
      const page = await api<AuditEvent[]>('GET', `/v1/events?${params}`);
      setEvents((prev) => (before === null ? page : [...prev, ...page]));
      setMore(page.length === PAGE);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  };
  // Reload from the newest whenever the filters in the URL change.
  useEffect(() => { setEvents([]); void load(null); }, [filterKey]);

  const set = (key: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(key, value); else next.delete(key);
    navigate(`/audit${next.size ? `?${next}` : ''}`);
  };

  const check = async () => {
    try {
      const r = await api<{ ok: boolean; count?: number; checked?: number }>('GET', '/v1/audit/verify');
      const n = r.count ?? r.checked;
      setVerify(r.ok ? `The chain is intact${n !== undefined ? ` (${n} events checked)` : ''}.` : `The chain is broken: ${JSON.stringify(r)}`);
    } catch (err) {
      setVerify(describeError(err));
    }
  };

  const select = (id: string, label: string, key: string, options: string[]) => (
    <span className="filter">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={query.get(key) ?? ''} onChange={(e) => set(key, e.target.value)}>
        <option value="">all</option>
        {[...new Set([...(query.get(key) ? [query.get(key)!] : []), ...options])].map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    </span>
  );
  const time = (id: string, label: string, key: 'since' | 'until') => (
    <span className="filter">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="datetime-local" value={toLocalInput(query.get(key))}
        onChange={(e) => set(key, e.target.value ? String(new Date(e.target.value).getTime() + (key === 'until' ? 59_999 : 0)) : '')} />
    </span>
  );

  return (
    <section>
      <h1>Audit log</h1>
      <form className="filters" aria-label="Filters" onSubmit={(e) => { e.preventDefault(); set('actor', actorText.trim()); }}>
        {select('a-type', 'Event type', 'type', TYPES)}
        {select('a-service', 'Service', 'service', services)}
        {select('a-environment', 'Environment', 'environment', environments)}
        <span className="filter">
          <label htmlFor="a-actor">Actor</label>
          <input id="a-actor" value={actorText} maxLength={200} onChange={(e) => setActorText(e.target.value)} onBlur={() => set('actor', actorText.trim())} />
        </span>
        {time('a-since', 'From', 'since')}
        {time('a-until', 'To', 'until')}
        <button type="button" className="secondary" onClick={() => { void check(); }}>Verify the hash chain</button>
        {verify && <span role="status">{verify}</span>}
      </form>
      {error && <p role="alert" className="error">{error}</p>}
      <table className="list audit">
        <caption>{events.length} event{events.length === 1 ? '' : 's'}, newest first{more ? ' (more below)' : ''}</caption>
        <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Type</th><th scope="col">Service</th><th scope="col">Environment</th><th scope="col">Actor</th><th scope="col">Deployment</th><th scope="col">Details</th></tr></thead>
        <tbody>
          {events.map((e) => {
            const line = stepLine(e);
            return (
              <tr key={e.id} className={line ? 'step-event' : ''}>
                <td>{e.id}</td><td className="nowrap">{formatTime(e.at)}</td><td className="nowrap">{e.type}</td>
                <td>{e.service ?? ''}</td><td>{e.environment ?? ''}</td><td>{e.actor ?? ''}</td>
                <td className="nowrap">{e.deploymentId ? <Link to={`/deployments/${encodeURIComponent(e.deploymentId)}`}>{e.deploymentId}</Link> : ''}</td>
                <td>{line ? <span className="step-line">{line}</span> : <details><summary>{summary(e) || 'data'}</summary><pre className="json">{JSON.stringify(e.data, null, 2)}</pre></details>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {more && <button type="button" onClick={() => { void load(events.at(-1)?.id ?? null); }}>Load older</button>}
    </section>
  );
}
