/** Environment × service matrix (GET /v1/status, every 2 s): stable release, instances, active rollout. */
import type { StatusEntry } from '../api.js';
import { usePoll, formatPercent, phaseLabel } from '../hooks.js';
import { Link } from '../router.js';
import { WeightBar, environmentRoles, rolePalette } from '../charts.js';

const ACTIVE = ['queued', 'waiting', 'running', 'paused', 'rolling_back'];

function Cell({ e }: { e: StatusEntry }) {
  const ready = e.instances.filter((i) => i.state === 'ready').length;
  const color = rolePalette(environmentRoles(e.version, e.traffic.map((t) => t.version)));
  const d = e.deployment;
  const active = d !== null && ACTIVE.includes(d.phase);
  const failing = e.releases.some((r) => isOver(r.errorRate, e.limits?.errorRate) || isOver(r.p95Seconds, e.limits?.p95Seconds));
  return (
    <td className={`cell ${active ? 'active' : ''}${failing ? ' failing' : ''}`} aria-label={`${e.service} in ${e.environment}`} data-environment={e.environment}>
      <div className="stable">
        <span className="label">stable</span> <strong>{e.version ?? 'none'}</strong>
      </div>
      <div className={`health ${e.instances.length > 0 && ready === e.instances.length ? 'ok' : e.instances.length ? 'bad' : ''}`}>
        {e.instances.length === 0 ? 'no instances' : `${ready}/${e.instances.length} instances ready`}
        {e.instances.some((i) => i.state !== 'ready') && (
          <ul className="instances">
            {e.instances.filter((i) => i.state !== 'ready').map((i) => <li key={i.id}>{i.version} :{i.port} {i.state}{i.restarts ? `, ${i.restarts} restarts` : ''}</li>)}
          </ul>
        )}
      </div>
      {e.traffic.length > 0 && <WeightBar traffic={e.traffic} color={color} label={`traffic of ${e.service} in ${e.environment}`} />}
      {e.preview && <Preview p={e.preview} />}
      {e.releases.length > 0 && <Figures e={e} color={color} />}
      <div className="service-link"><Link to={`/services/${encodeURIComponent(e.service)}/${encodeURIComponent(e.environment)}`}>timeline</Link></div>
      {d && (
        <div className={`rollout phase-${d.phase}`}>
          <Link to={`/deployments/${encodeURIComponent(d.id)}`}>{active ? 'rollout' : 'last deployment'}: {phaseLabel(d.phase)}</Link>
          {active && d.step && <div className="step">{d.step}</div>}
          {e.queued > 0 && <div>{e.queued} queued</div>}
        </div>
      )}
    </td>
  );
}

function isOver(value: number | null, limit: { max: number } | null | undefined): boolean {
  return value !== null && !!limit && value > limit.max;
}

/** How a live figure reads against its limit: over it (bad), within it (ok), or unjudged (no rule). */
function judged(value: number | null, limit: { max: number; rule: string } | null | undefined): { level: 'bad' | 'ok' | 'plain'; title?: string } {
  if (value === null || !limit) return { level: 'plain' };
  return value > limit.max ? { level: 'bad', title: `over ${limit.rule} (max ${limit.max})` } : { level: 'ok', title: `within ${limit.rule} (max ${limit.max})` };
}

/**
 * Each serving release's live error rate, p95 and request rate over the last minute, coloured
 * against the pair's analysis rules when it has them; a release over a limit is flagged in words too.
 */
function Figures({ e, color }: { e: StatusEntry; color: (v: string) => string }) {
  return (
    <table className="figures-table" aria-label={`live figures of ${e.service} in ${e.environment}`}>
      <thead><tr><th scope="col">release</th><th scope="col">errors</th><th scope="col">p95</th><th scope="col">req/s</th></tr></thead>
      <tbody>
        {e.releases.map((r) => {
          const err = judged(r.errorRate, e.limits?.errorRate);
          const p95 = judged(r.p95Seconds, e.limits?.p95Seconds);
          const failing = err.level === 'bad' || p95.level === 'bad';
          return (
            <tr key={r.version} className={failing ? 'failing' : ''}>
              <th scope="row"><span className="swatch" style={{ background: color(r.version) }} />{r.version}{failing && <span className="flag" role="status"> ✗ failing</span>}</th>
              <td className={`fig-${err.level}`} title={err.title}>{formatPercent(r.errorRate)}</td>
              <td className={`fig-${p95.level}`} title={p95.title}>{r.p95Seconds === null ? '—' : `${Math.round(r.p95Seconds * 1000)} ms`}</td>
              <td>{(r.requests / 60).toFixed(r.requests < 600 ? 1 : 0)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Blue-green preview: its port (configured, or chosen by the agent) and the release on it now. */
export function Preview({ p }: { p: NonNullable<StatusEntry['preview']> }) {
  return (
    <div className="figures preview" aria-label="Preview">
      preview {p.endpoint ? p.endpoint : p.port === null ? 'port: chosen at the first deployment' : `:${p.port}`}{p.version ? ` → ${p.version}` : ''}
    </div>
  );
}

export function Overview() {
  const { data, error } = usePoll<StatusEntry[]>('/v1/status', 2000);
  const services = [...new Set((data ?? []).map((e) => e.service))];
  const environments = [...new Set((data ?? []).map((e) => e.environment))];
  const find = (s: string, env: string) => data?.find((e) => e.service === s && e.environment === env);
  return (
    <section>
      <h1>Overview</h1>
      {error && <p role="alert" className="error">{error}</p>}
      {!data ? <p>Loading…</p> : (
        <table className="matrix">
          <caption>Services by environment: the stable release, instance health and any rollout in progress</caption>
          <thead>
            <tr><th scope="col">Service</th>{environments.map((env) => <th key={env} scope="col">{env}</th>)}</tr>
          </thead>
          <tbody>
            {services.map((s) => (
              <tr key={s}>
                <th scope="row">{s}</th>
                {environments.map((env) => {
                  const e = find(s, env);
                  return e ? <Cell key={env} e={e} /> : <td key={env}>—</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
