/** Inline SVG charts: lines over time per release, and a traffic-weight bar. No chart library. */
import { type Palette } from './colors.js';
import type { Marker, Series, Threshold } from './chart-types.js';

export type { Marker, Series, Threshold } from './chart-types.js';
export { ROLE_COLORS, deploymentRoles, environmentRoles, rolePalette, type Palette, type ReleaseRole } from './colors.js';

function clock(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

/**
 * A line chart of several series over the same time axis.
 *
 * @param format  how a y value reads (axis labels and the legend's latest value)
 * @param minMax  the y axis reaches at least this (an error rate of 0 still draws a 0–1% axis)
 * @param span    the time axis (default: the points' own range); with `ended` the axis reads clock times
 */
export function LineChart({ title, series, color, format, minMax, thresholds = [], markers = [], span, ended = false, legendName = (n) => n, dots = true }: {
  title: string; series: Series[]; color: Palette; format: (v: number) => string; minMax: number;
  thresholds?: Threshold[]; markers?: Marker[]; span?: { t0: number; t1: number }; ended?: boolean; legendName?: (name: string) => string;
  /** A dot on every figure (of series with at most 120), so a lone sample shows too. */
  dots?: boolean;
}) {
  const width = 520;
  const height = 170;
  const pad = { l: 52, r: 10, t: 24, b: 22 };
  const all = series.flatMap((s) => s.points);
  const ts = all.map((p) => p.t);
  const t0 = span?.t0 ?? (ts.length ? Math.min(...ts) : 0);
  const t1 = Math.max(span?.t1 ?? (ts.length ? Math.max(...ts) : 1), t0 + 1);
  const vs = all.map((p) => p.v).filter((v): v is number => v !== null);
  const top = Math.max(minMax, ...vs, ...thresholds.map((l) => l.v));
  // Headroom above the highest value, so a line at the top stays visible.
  const yMax = top * 1.1;
  const x = (t: number) => pad.l + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v: number) => height - pad.b - (v / yMax) * (height - pad.t - pad.b);
  const paths = series.map((s) => {
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (p.v === null) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      pen = true;
    }
    const values = s.points.map((p) => p.v).filter((v): v is number => v !== null);
    const points = dots && s.points.length <= 120 ? s.points.filter((p): p is { t: number; v: number } => p.v !== null) : [];
    return { name: s.name, d, points, last: [...s.points].reverse().find((p) => p.v !== null)?.v ?? null, peak: values.length ? Math.max(...values) : null };
  });
  const seconds = Math.round((t1 - t0) / 1000);
  const describe = [
    ...paths.map((p) => `${p.name} ${p.last === null ? 'no data' : format(p.last)}${ended && p.peak !== null ? ` (peak ${format(p.peak)})` : ''}`),
    ...thresholds.map((l) => `threshold ${l.label}`),
  ].join(', ');
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`${title}: ${describe || 'no data yet'}`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={pad.l} x2={width - pad.r} y1={y(top * f)} y2={y(top * f)} className="grid" />
            <text x={pad.l - 6} y={y(top * f) + 4} textAnchor="end" className="axis">{format(top * f)}</text>
          </g>
        ))}
        {markers.map((m, i) => (
          <g key={`m${i}`} className={`marker marker-${m.kind}`}>
            <title>{`${clock(m.t)} ${m.label}`}</title>
            <line x1={x(m.t)} x2={x(m.t)} y1={pad.t - 4} y2={height - pad.b} />
            {m.kind !== 'step' && (
              // Near the right edge the label reads leftwards, so it is never cut off.
              <text x={x(m.t) > width - 70 ? x(m.t) - 2 : x(m.t) + 2} textAnchor={x(m.t) > width - 70 ? 'end' : 'start'}
                y={m.kind === 'verdict' ? pad.t - 4 : pad.t - 14} className="marker-label">{m.label}</text>
            )}
          </g>
        ))}
        {thresholds.map((l, i) => (
          <g key={`l${i}`} className="threshold">
            <title>{`threshold ${l.label}`}</title>
            <line x1={pad.l} x2={width - pad.r} y1={y(l.v)} y2={y(l.v)} />
            <text x={width - pad.r - 2} y={y(l.v) - 3} textAnchor="end" className="threshold-label">{l.label}</text>
          </g>
        ))}
        <text x={pad.l} y={height - 4} className="axis">{!vs.length ? 'waiting for figures…' : ended ? clock(t0) : `${seconds} s ago`}</text>
        <text x={width - pad.r} y={height - 4} textAnchor="end" className="axis">{ended ? clock(t1) : 'now'}</text>
        {paths.map((p) => <path key={p.name} d={p.d} fill="none" stroke={color(p.name)} strokeWidth={2} data-release={p.name} />)}
        {paths.map((p) => p.points.map((pt) => <circle key={`${p.name}-${pt.t}`} cx={x(pt.t)} cy={y(pt.v)} r={2.2} fill={color(p.name)} />))}
      </svg>
      <ul className="legend">
        {paths.map((p) => (
          <li key={p.name}><span className="swatch" style={{ background: color(p.name) }} />{legendName(p.name)}: {p.last === null ? '—' : format(p.last)}{ended && p.peak !== null ? ` (peak ${format(p.peak)})` : ''}</li>
        ))}
        {thresholds.map((l, i) => <li key={`l${i}`}><span className="swatch threshold-swatch" />threshold {l.label}</li>)}
      </ul>
    </figure>
  );
}

/** Traffic split as one bar, each release's share of the total weight labelled in percent (the agent's weights are relative). */
export function WeightBar({ traffic, color, label }: { traffic: Array<{ version: string; weight: number }>; color: Palette; label: string }) {
  const total = traffic.reduce((a, t) => a + t.weight, 0) || 1;
  const shown = traffic.filter((t) => t.weight > 0);
  const text = shown.length ? shown.map((t) => `${t.version} ${Math.round((t.weight / total) * 100)}%`).join(', ') : 'no traffic';
  return (
    <div className="weights" role="group" aria-label={label}>
      <div className="bar" aria-hidden="true">
        {shown.map((t) => (
          <span key={t.version} style={{ width: `${(t.weight / total) * 100}%`, background: color(t.version) }} />
        ))}
      </div>
      <span className="weights-text">{text}</span>
    </div>
  );
}
