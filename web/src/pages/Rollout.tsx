/**
 * One deployment, live: its steps, traffic weights, per-release error rate and p95 over time,
 * verdicts with their measurements, gate results with evidence, and the actions the user's
 * role allows. Updates come from the event stream (GET /v1/events/stream?deployment=ID) and
 * a one-second poll. The charts are drawn from what the store kept — the per-release samples
 * (GET /v1/deployments/ID/samples), the steps and the verdicts — so a rollout that ended
 * hours ago reads the same as one watched live.
 */
import { useEffect, useRef, useState } from 'react';
import { api, describeError, type DeploymentView, type ReleaseSampleRecord, type SessionUser, type StatusEntry } from '../api.js';
import { allowedActions, type DeploymentAction } from '../roles.js';
import { formatPercent, formatTime, phaseLabel, usePoll } from '../hooks.js';
import { LineChart, WeightBar, deploymentRoles, rolePalette } from '../charts.js';
import { rolloutCharts } from '../rollout-data.js';
import { Link, navigate } from '../router.js';
import { Preview } from './Overview.js';

const FINAL = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];

const ACTION_LABEL: Record<DeploymentAction, string> = { approve: 'Approve', reject: 'Reject', promote: 'Promote', abort: 'Abort', rollback: 'Roll back' };

/** A step still `pending` when its deployment ended never ran: it reads "skipped". */
function shownStatus(status: string, ended: boolean): string {
  return ended && status === 'pending' ? 'skipped' : status;
}

function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

/** Reloads `reload` whenever the deployment's event stream says something happened. */
function useEventStream(id: string, onEvent: () => void): boolean {
  const [live, setLive] = useState(false);
  const callback = useRef(onEvent);
  callback.current = onEvent;
  useEffect(() => {
    if (typeof EventSource === 'undefined') return undefined;
    const source = new EventSource(`/v1/events/stream?deployment=${encodeURIComponent(id)}`);
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    source.onmessage = () => callback.current();
    return () => source.close();
  }, [id]);
  return live;
}

function Actions({ d, user, onDone }: { d: DeploymentView; user: SessionUser; onDone: () => void }) {
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState<DeploymentAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // Set when the environment refused a rollback without a reason (`reason: required`): the field then asks for one.
  const [needReason, setNeedReason] = useState(false);
  const awaitingApproval = d.gates.some((g) => g.gate === 'approvals' && g.result !== 'pass');
  const actions = allowedActions(user, d, awaitingApproval);

  const run = async (action: DeploymentAction) => {
    setBusy(action);
    setError(null);
    setDone(null);
    const comment = note.trim() || undefined;
    try {
      if (action === 'rollback') {
        const created = await api<DeploymentView>('POST', '/v1/rollbacks', { service: d.service, environment: d.environment, reason: comment });
        setNote('');
        navigate(`/deployments/${encodeURIComponent(created.id)}`);
        return;
      }
      const body = action === 'approve' || action === 'reject' ? { comment } : {};
      await api('POST', `/v1/deployments/${encodeURIComponent(d.id)}/${action}`, body);
      setNote('');
      setDone(`${ACTION_LABEL[action]}: done`);
      onDone();
    } catch (err) {
      if (action === 'rollback' && comment === undefined) {
        setNeedReason(true);
        document.getElementById('note')?.focus();
      }
      setError(describeError(err));
    } finally {
      setBusy(null);
    }
  };

  if (actions.length === 0) return null;
  return (
    <section className="actions" aria-label="Actions">
      <label htmlFor="note">{actions.includes('approve') ? 'Comment' : 'Reason'} {needReason ? '(required to roll back here)' : '(optional)'}</label>
      <input id="note" value={note} maxLength={2000} onChange={(e) => setNote(e.target.value)} />
      {actions.map((a) => (
        <button key={a} type="button" className={a === 'abort' || a === 'reject' || a === 'rollback' ? 'danger' : ''} disabled={busy !== null} onClick={() => { void run(a); }}>
          {busy === a ? `${ACTION_LABEL[a]}…` : ACTION_LABEL[a]}
        </button>
      ))}
      {error && <p role="alert" className="error">{error}</p>}
      {done && <p role="status">{done}</p>}
    </section>
  );
}

export function Rollout({ id, user }: { id: string; user: SessionUser }) {
  const dep = usePoll<DeploymentView>(`/v1/deployments/${encodeURIComponent(id)}`, 1000);
  const d = dep.data;
  const live = useEventStream(id, dep.reload);
  const ended = d !== undefined && FINAL.includes(d.phase);
  // The environment's live traffic matters only while this deployment is the one moving it.
  const status = usePoll<StatusEntry[]>(d && !ended ? `/v1/status?service=${encodeURIComponent(d.service)}&environment=${encodeURIComponent(d.environment)}` : null, 1000);
  const entry = status.data?.[0];
  // Stored samples: polled while the deployment runs, read once (per finished view) after.
  const samples = usePoll<ReleaseSampleRecord[]>(d ? `/v1/deployments/${encodeURIComponent(id)}/samples` : null, ended ? undefined : 2000);

  if (dep.error && !d) return <section><h1>Deployment {id}</h1><p role="alert" className="error">{dep.error}</p></section>;
  if (!d) return <section><p>Loading…</p></section>;

  const roles = deploymentRoles(d);
  const color = rolePalette(roles);
  const legendName = (v: string) => (roles[v] ? `${v} (${roles[v]})` : v);
  const charts = rolloutCharts(d, samples.data ?? [], Date.now(), ended);
  const current = d.steps.find((s) => s.idx === d.currentStep && s.status !== 'succeeded');
  const common = { color, legendName, markers: charts.markers, span: charts.span, ended };

  return (
    <section className="rollout-page">
      <h1>{d.kind === 'rollback' ? 'Rollback of' : 'Deployment of'} {d.service} {d.version} to {d.environment}</h1>
      <p className="meta">
        <span className={`badge phase-${d.phase}`} aria-label="Phase">{phaseLabel(d.phase)}</span>{' '}
        by {d.actor}{d.reason ? ` — “${d.reason}”` : ''} · requested {formatTime(d.createdAt)}
        {d.finishedAt ? ` · ended ${formatTime(d.finishedAt)}` : ''}
        {d.previousVersion ? ` · replaces ${d.previousVersion}` : ''}
        {d.expedited ? ' · expedited' : ''}
        {' · '}<span aria-label="Updates">{ended ? 'ended' : live ? 'live' : 'polling'}</span>
      </p>
      {d.message && <p className="message">{d.message}</p>}
      {d.supersededBy && <p className="superseded">Superseded by <Link to={`/deployments/${encodeURIComponent(d.supersededBy)}`}>{d.supersededBy}</Link>: it served, but a newer release ended its watch, so it is not the rollback target.</p>}
      {dep.error && <p role="alert" className="error">{dep.error}</p>}

      <Actions d={d} user={user} onDone={dep.reload} />

      <div className="now">
        <div>
          <h2>Current step</h2>
          <p aria-label="Current step">{FINAL.includes(d.phase) ? `ended: ${phaseLabel(d.phase)}` : current ? `${current.idx + 1}/${d.steps.length} ${current.title}` : (d.step ?? '—')}</p>
        </div>
        <div>
          <h2>{ended ? 'Traffic it last set' : 'Traffic'}</h2>
          {ended
            ? (charts.lastTraffic.length ? <WeightBar traffic={charts.lastTraffic} color={color} label="Traffic weights" /> : <p>—</p>)
            : entry ? <WeightBar traffic={entry.traffic} color={color} label="Traffic weights" /> : <p>—</p>}
          {entry?.preview && <Preview p={entry.preview} />}
        </div>
      </div>

      {charts.endedBy && (
        <p className="ended-by" aria-label="Ended by">
          Ended by <span className="badge verdict-fail">fail</span> {charts.endedBy.template} / {charts.endedBy.rule} at {formatTime(charts.endedBy.at)}: {charts.endedBy.reason}
        </p>
      )}
      <div className="charts">
        <LineChart title="Traffic weight (%)" series={charts.weight} {...common} dots={false} format={(v) => `${Math.round(v)}%`} minMax={100} />
        <LineChart title="Error rate" series={charts.errors} {...common} thresholds={charts.errorThresholds} format={formatPercent} minMax={0.01} />
        <LineChart title="p95 latency (ms)" series={charts.p95} {...common} thresholds={charts.p95Thresholds} format={(v) => `${Math.round(v)} ms`} minMax={10} />
        <LineChart title="Requests per second" series={charts.rate} {...common} format={(v) => v.toFixed(v < 10 ? 1 : 0)} minMax={1} />
      </div>
      <p className="chart-note">Figures per release per sampling interval, stored while the deployment was active; vertical lines mark step starts, weight changes and the verdict that ended it; dashed lines are rule thresholds.</p>

      <h2>Steps</h2>
      <ol className="steps" aria-label="Steps">
        {d.steps.map((s) => (
          <li key={`${s.stage}-${s.idx}`} className={`step-${shownStatus(s.status, ended)}${s.idx === d.currentStep && !ended ? ' current' : ''}`}>
            <span className={`badge status-${shownStatus(s.status, ended)}`}>{shownStatus(s.status, ended)}</span> {s.stage === 'rollback' ? '↩ ' : ''}{s.title}
            {s.startedAt ? <span className="when"> {formatTime(s.startedAt)}{s.finishedAt ? `–${formatTime(s.finishedAt)}` : ''}</span> : null}
            {s.output && Object.keys(s.output).length > 0 && <details><summary>output</summary><Json value={s.output} /></details>}
          </li>
        ))}
      </ol>

      <h2>Verdicts</h2>
      {d.verdicts.length === 0 ? <p>No analysis verdicts.</p> : (
        <table className="list">
          <thead><tr><th scope="col">When</th><th scope="col">Rule</th><th scope="col">Verdict</th><th scope="col">Reason</th><th scope="col">Measurements</th></tr></thead>
          <tbody>
            {d.verdicts.map((v) => (
              <tr key={v.id}>
                <td>{formatTime(v.at)}</td><td>{v.template} / {v.rule}</td>
                <td><span className={`badge verdict-${v.verdict}`}>{v.verdict}</span></td><td>{v.reason}</td>
                <td><details><summary>{v.measurements.length} measurement{v.measurements.length === 1 ? '' : 's'}</summary><Json value={v.measurements} /></details></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Gates</h2>
      {d.gates.length === 0 ? <p>No gate results.</p> : (
        <table className="list">
          <thead><tr><th scope="col">Gate</th><th scope="col">Result</th><th scope="col">Reason</th><th scope="col">Evidence</th></tr></thead>
          <tbody>
            {d.gates.map((g) => (
              <tr key={g.id}>
                <td>{g.gate}</td><td><span className={`badge gate-${g.result}`}>{g.result}</span>{g.until ? ` until ${formatTime(g.until)}` : ''}</td>
                <td>{g.reason}</td>
                <td><details><summary>evidence</summary><Json value={g.evidence} /></details></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p><Link to={`/history?service=${encodeURIComponent(d.service)}&environment=${encodeURIComponent(d.environment)}`}>History of {d.service} in {d.environment}</Link>
        {' · '}<Link to={`/services/${encodeURIComponent(d.service)}/${encodeURIComponent(d.environment)}`}>Timeline of {d.service} in {d.environment}</Link></p>
    </section>
  );
}
