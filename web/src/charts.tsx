/** Inline SVG charts: lines over time per release, and a traffic-weight bar. No chart library. */

/** One line: a release's values over time (null: no figure at that moment, the line breaks). */
export interface Series { name: string; points: Array<{ t: number; v: number | null }> }

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

/** A stable colour per release name, so the same release has the same colour in every chart. */
export function colorOf(name: string, names: string[]): string {
  const i = names.indexOf(name);
  return COLORS[(i < 0 ? 0 : i) % COLORS.length];
}

/**
 * A line chart of several series over the same time axis.
 *
 * @param format  how a y value reads (axis labels and the legend's latest value)
 * @param minMax  the y axis reaches at least this (an error rate of 0 still draws a 0–1% axis)
 */
export function LineChart({ title, series, names, format, minMax }: { title: string; series: Series[]; names: string[]; format: (v: number) => string; minMax: number }) {
  const width = 520;
  const height = 150;
  const pad = { l: 52, r: 10, t: 10, b: 22 };
  const all = series.flatMap((s) => s.points);
  const ts = all.map((p) => p.t);
  const t0 = ts.length ? Math.min(...ts) : 0;
  const t1 = ts.length ? Math.max(...ts) : 1;
  const vs = all.map((p) => p.v).filter((v): v is number => v !== null);
  const top = Math.max(minMax, ...vs);
  // Headroom above the highest value, so a line at the top stays visible.
  const yMax = top * 1.1;
  const x = (t: number) => pad.l + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r));
  const y = (v: number) => height - pad.b - (v / yMax) * (height - pad.t - pad.b);
  const paths = series.map((s) => {
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (p.v === null) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      pen = true;
    }
    return { name: s.name, d, last: [...s.points].reverse().find((p) => p.v !== null)?.v ?? null };
  });
  const seconds = Math.round((t1 - t0) / 1000);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`${title}: ${paths.map((p) => `${p.name} ${p.last === null ? 'no data' : format(p.last)}`).join(', ') || 'no data yet'}`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={pad.l} x2={width - pad.r} y1={y(top * f)} y2={y(top * f)} className="grid" />
            <text x={pad.l - 6} y={y(top * f) + 4} textAnchor="end" className="axis">{format(top * f)}</text>
          </g>
        ))}
        <text x={pad.l} y={height - 4} className="axis">{vs.length ? `${seconds} s ago` : 'waiting for figures…'}</text>
        <text x={width - pad.r} y={height - 4} textAnchor="end" className="axis">now</text>
        {paths.map((p) => <path key={p.name} d={p.d} fill="none" stroke={colorOf(p.name, names)} strokeWidth={2} />)}
      </svg>
      <ul className="legend">
        {paths.map((p) => (
          <li key={p.name}><span className="swatch" style={{ background: colorOf(p.name, names) }} />{p.name}: {p.last === null ? '—' : format(p.last)}</li>
        ))}
      </ul>
    </figure>
  );
}

/** Traffic split as one bar, each release's share of the total weight labelled in percent (the agent's weights are relative). */
export function WeightBar({ traffic, names, label }: { traffic: Array<{ version: string; weight: number }>; names: string[]; label: string }) {
  const total = traffic.reduce((a, t) => a + t.weight, 0) || 1;
  const shown = traffic.filter((t) => t.weight > 0);
  const text = shown.length ? shown.map((t) => `${t.version} ${Math.round((t.weight / total) * 100)}%`).join(', ') : 'no traffic';
  return (
    <div className="weights" role="group" aria-label={label}>
      <div className="bar" aria-hidden="true">
        {shown.map((t) => (
          <span key={t.version} style={{ width: `${(t.weight / total) * 100}%`, background: colorOf(t.version, names) }} />
        ))}
      </div>
      <span className="weights-text">{text}</span>
    </div>
  );
}
