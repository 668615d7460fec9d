/**
 * One service in one environment (GET /v1/timeline, every 5 s): the release timeline of the
 * last hour — deployments and rollbacks as markers coloured by outcome, manual and incident
 * freezes as shaded spans — and, on the same time axis, the request rate, error rate and p95
 * of each release from the stored samples (of rollouts, and of the serving release between them).
 */
import { useState } from 'react';
import type { TimelineView } from '../../../src/engine/types.js';
import { usePoll, formatPercent, formatTime, phaseLabel } from '../hooks.js';
import { Link } from '../router.js';
import { LineChart, rolePalette } from '../charts.js';
import { OUTCOME_COLORS, serviceCharts, type ServiceCharts } from '../service-data.js';

/** The spans the page can show, within the hour the API returns. */
const SPANS: Array<[string, number]> = [['5 min', 300_000], ['15 min', 900_000], ['1 h', 3_600_000]];

function clock(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' });
}

/** The release timeline: one time axis, freeze spans behind, a marker per deployment (a bar to its end). */
function Timeline({ c }: { c: ServiceCharts }) {
  const width = 1040;
  const height = 104;
  const pad = { l: 52, r: 10, t: 22, b: 20 };
  const { t0, t1 } = c.span;
  const x = (t: number) => pad.l + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const mid = pad.t + (height - pad.t - pad.b) / 2;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
  const describe = [...c.markers.map((m) => m.label), ...c.freezes.map((f) => f.label)].join(', ');
  return (
    <figure className="chart timeline">
      <figcaption>Release timeline</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`Release timeline: ${describe || 'no deployments or freezes in the last hour'}`}>
        {c.freezes.map((f) => (
          <rect key={f.id} className={`freeze-span ${f.incident ? 'freeze-incident' : 'freeze-manual'}`} data-freeze={f.id}
            x={x(f.t0)} y={pad.t - 6} width={Math.max(2, x(f.t1) - x(f.t0))} height={height - pad.t - pad.b + 6}>
            <title>{`${f.label}, ${clock(f.t0)}–${clock(f.t1)}`}</title>
          </rect>
        ))}
        <line className="grid" x1={pad.l} x2={width - pad.r} y1={mid} y2={mid} />
        {ticks.map((t, i) => (
          <g key={i}>
            <line className="grid" x1={x(t)} x2={x(t)} y1={pad.t - 6} y2={height - pad.b} />
            <text className="axis" x={x(t)} y={height - 6} textAnchor={i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle'}>{i === ticks.length - 1 ? 'now' : clock(t)}</text>
          </g>
        ))}
        {c.markers.map((m, i) => {
          const color = OUTCOME_COLORS[m.outcome];
          const cx = x(m.t);
          const near = cx > width - 90;
          // Labels alternate above and below the axis, so close deployments stay readable.
          const labelY = i % 2 === 0 ? mid - 11 : mid + 19;
          return (
            <g key={m.id} className={`deployment-marker outcome-${m.outcome}`} data-deployment={m.id} data-outcome={m.outcome} data-kind={m.kind} aria-label={m.label}>
              <title>{`${formatTime(m.t)} ${m.label}`}</title>
              <rect x={cx} y={mid - 3} width={Math.max(0, x(m.end ?? t1) - cx)} height={6} fill={color} opacity={0.35} />
              {m.kind === 'rollback'
                ? <path d={`M${cx},${mid - 8}L${cx + 7},${mid}L${cx},${mid + 8}L${cx - 7},${mid}Z`} fill={color} stroke="#fff" />
                : <circle cx={cx} cy={mid} r={6} fill={color} stroke="#fff" />}
              <text className="marker-label" x={near ? cx - 4 : cx + 4} textAnchor={near ? 'end' : 'start'} y={labelY}>{m.kind === 'rollback' ? `↩ ${m.version}` : m.version}</text>
            </g>
          );
        })}
      </svg>
      <ul className="legend">
        {Object.entries(OUTCOME_COLORS).map(([o, color]) => <li key={o}><span className="swatch" style={{ background: color }} />{o === 'active' ? 'in progress' : phaseLabel(o)}</li>)}
        <li><span className="swatch freeze-swatch-manual" />freeze</li>
        <li><span className="swatch freeze-swatch-incident" />incident freeze</li>
        <li>◆ rollback</li>
      </ul>
    </figure>
  );
}

export function Service({ service, environment }: { service: string; environment: string }) {
  const q = `service=${encodeURIComponent(service)}&environment=${encodeURIComponent(environment)}`;
  // Without `since` the API answers the last hour, to now.
  const tl = usePoll<TimelineView>(`/v1/timeline?${q}`, 5000);
  const [windowMs, setWindowMs] = useState(3_600_000);
  const v = tl.data;
  if (tl.error && !v) return <section><h1>{service} in {environment}</h1><p role="alert" className="error">{tl.error}</p></section>;
  if (!v) return <section><h1>{service} in {environment}</h1><p>Loading…</p></section>;

  const c = serviceCharts(v, windowMs);
  const color = rolePalette(c.roles);
  const legendName = (name: string) => (c.roles[name] === 'stable' ? `${name} (stable)` : name);
  const common = { color, legendName, span: c.span, ended: true, dots: false };
  return (
    <section className="service-page">
      <h1>{service} in {environment}</h1>
      <p className="meta">stable <strong aria-label="Stable release">{v.stableVersion ?? 'none'}</strong> · to {formatTime(v.until)}</p>
      <div className="span-picker" role="group" aria-label="Time span">
        {SPANS.map(([label, ms]) => (
          <button key={label} type="button" className="secondary" aria-pressed={windowMs === ms} onClick={() => setWindowMs(ms)}>last {label}</button>
        ))}
      </div>
      {tl.error && <p role="alert" className="error">{tl.error}</p>}
      <Timeline c={c} />
      <div className="charts">
        <LineChart title="Requests per second" series={c.rate} {...common} format={(n) => n.toFixed(n < 10 ? 1 : 0)} minMax={1} />
        <LineChart title="Error rate" series={c.errors} {...common} format={formatPercent} minMax={0.01} />
        <LineChart title="p95 latency (ms)" series={c.p95} {...common} format={(n) => `${Math.round(n)} ms`} minMax={10} />
      </div>
      <p className="chart-note">Figures per release per sampling interval: while a deployment runs, of its releases; between deployments, of the serving release (every 10 s).</p>

      <h2>Deployments in the last hour</h2>
      {v.deployments.length === 0 ? <p>None.</p> : (
        <table className="list" aria-label="Deployments in the last hour">
          <thead><tr><th scope="col">Started</th><th scope="col">Kind</th><th scope="col">Release</th><th scope="col">Outcome</th><th scope="col">Ended</th></tr></thead>
          <tbody>
            {v.deployments.map((d) => (
              <tr key={d.id}>
                <td>{formatTime(d.startedAt ?? d.createdAt)}</td><td>{d.kind}</td>
                <td><Link to={`/deployments/${encodeURIComponent(d.id)}`}>{d.version}</Link>{d.previousVersion ? ` (from ${d.previousVersion})` : ''}</td>
                <td><span className={`badge phase-${d.phase}`}>{phaseLabel(d.phase)}</span>{d.supersededBy ? <> by <Link to={`/deployments/${encodeURIComponent(d.supersededBy)}`}>{d.supersededBy}</Link></> : null}</td>
                <td>{formatTime(d.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Freezes</h2>
      {v.freezes.length === 0 ? <p>None in the last hour.</p> : (
        <ul aria-label="Freezes in the last hour">
          {v.freezes.map((f) => (
            <li key={f.id}>{f.source === 'alert' ? `incident (alert ${f.alertFingerprint ?? ''})` : 'manual'}: {f.reason} · {formatTime(f.createdAt)}–{f.liftedAt ? formatTime(f.liftedAt) : 'now'}</li>
          ))}
        </ul>
      )}
      <p><Link to={`/history?${q}`}>Full history of {service} in {environment}</Link> · <Link to="/freezes">Freezes & windows</Link></p>
    </section>
  );
}
