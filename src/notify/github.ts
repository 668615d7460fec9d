/**
 * GitHub notifier: mirrors each Gangway deployment as a GitHub deployment (REST API,
 * `POST /repos/{owner}/{repo}/deployments`) and each notification as a deployment status
 * (`POST …/deployments/{id}/statuses`), so the repository's Environments page shows what
 * runs where.
 *
 * The GitHub deployment's id is kept in the event log as `notification.github.deployment`
 * (`{ notifier, repo, githubId }`) the moment it is created, so statuses after a restart go to
 * the same GitHub deployment. When that record is missing (a crash right after creating it) the
 * deployment is found again on GitHub by its `payload.gangway`.
 */
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import type { Store } from '../store/types.js';
import type { DeliveryResult, Notification, Notifier, NotifierDeps, SendContext } from './types.js';
import { connectionError, excerptOf, USER_AGENT } from './webhook.js';

/** The deployment status each notification sets. */
export const GITHUB_STATES: Readonly<Record<NotifyEvent, 'in_progress' | 'queued' | 'success' | 'failure' | 'inactive'>> = {
  started: 'in_progress',
  waiting: 'queued',
  succeeded: 'success',
  failed: 'failure',
  rolled_back: 'failure',
  // It served, then a newer deployment replaced it before its watch ended: no longer active, not failed.
  superseded: 'inactive',
};

/**
 * The state of a status: by the event, or for an alert by the phase the deployment is in, so
 * an alert on a deployment that already succeeded does not mark it in progress again.
 */
export function githubState(n: Notification): (typeof GITHUB_STATES)[NotifyEvent] {
  if (n.event !== 'alert.fired' && n.event !== 'alert.resolved') return GITHUB_STATES[n.event];
  switch (n.deployment.phase) {
    case 'queued': case 'waiting': return 'queued';
    case 'succeeded': return 'success';
    case 'superseded': return 'inactive';
    case 'failed': case 'aborted': case 'rolled_back': return 'failure';
    default: return 'in_progress';
  }
}

/** GitHub's documented limit for a status description. */
const MAX_DESCRIPTION = 140;
const API_VERSION = '2022-11-28';
const MAX_WAIT_MS = 60_000;

function clip(s: string): string {
  return s.length > MAX_DESCRIPTION ? `${s.slice(0, MAX_DESCRIPTION - 1)}…` : s;
}

/** The description of a GitHub deployment: `web 1.4.2 to prod by ana (CHG-42)`. */
export function githubDeploymentDescription(n: Notification): string {
  const d = n.deployment;
  return clip(`${d.service} ${d.version} to ${d.environment} by ${d.actor}${d.reason ? ` (${d.reason})` : ''}`);
}

/**
 * The description of a deployment status, at most 140 characters.
 *
 * @example
 * ```ts
 * githubStatusDescription(n); // 'Rolled back to 1.4.1: error rate 7.2% > 5% for 2m'
 * ```
 */
export function githubStatusDescription(n: Notification): string {
  const d = n.deployment;
  const because = d.message ? `: ${d.message}` : '';
  switch (n.event) {
    case 'started': return clip(`Deploying ${d.service} ${d.version} to ${d.environment}`);
    case 'waiting': return clip(`Waiting${because}`);
    case 'succeeded': return clip(`Deployed ${d.service} ${d.version} to ${d.environment}`);
    case 'failed': return clip(`Failed${because}`);
    case 'rolled_back': return clip(`Rolled back${n.rolledBackTo ? ` to ${n.rolledBackTo}` : ''}${because}`);
    case 'superseded': return clip(`Superseded${because}`);
    case 'alert.fired': return clip(`Alert ${n.alert?.tier ?? ''} fired: ${n.alert?.reason ?? ''}`);
    case 'alert.resolved': return clip(`Alert ${n.alert?.tier ?? ''} resolved`);
  }
}

type GitHubConfig = Extract<NotifierConfig, { kind: 'github' }>;

type Answer = { ok: true; status: number; json: unknown } | { ok: false; outcome: DeliveryResult };

/** The event that remembers which GitHub deployment mirrors a Gangway deployment. */
export const GITHUB_DEPLOYMENT_EVENT = 'notification.github.deployment';

/**
 * Sets GitHub deployment statuses: started → in_progress, waiting → queued, succeeded →
 * success, failed and rolled_back → failure. The GitHub deployment is created on the first
 * notification of a Gangway deployment with `ref` = the release's version, which must name a
 * tag, branch or commit of the repository (GitHub answers 422 otherwise).
 *
 * @example
 * ```ts
 * new GitHubNotifier({ kind: 'github', name: 'github', apiUrl: 'https://api.github.com', repo: 'acme/shop',
 *   token: process.env.GITHUB_TOKEN!, events: ['started', 'succeeded', 'failed', 'rolled_back'], timeoutMs: 10000, retries: 3 },
 *   { store });
 * ```
 */
export class GitHubNotifier implements Notifier {
  readonly kind = 'github';
  readonly name: string;
  readonly events: readonly NotifyEvent[];
  readonly retries: number;
  readonly timeoutMs: number;
  readonly repo: string;
  readonly #token: string;
  readonly #base: string;
  readonly #store: Store;
  readonly #now: () => number;
  /** Gangway deployment id → GitHub deployment id, for those seen since start. */
  readonly #ids = new Map<string, number>();

  constructor(cfg: GitHubConfig, deps: NotifierDeps) {
    this.name = cfg.name;
    this.events = [...cfg.events];
    this.retries = cfg.retries;
    this.timeoutMs = cfg.timeoutMs;
    this.repo = cfg.repo;
    this.#token = cfg.token;
    const [owner = '', name = ''] = cfg.repo.split('/');
    this.#base = `${cfg.apiUrl.replace(/\/+$/, '')}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
    this.#store = deps.store;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Idempotent for the GitHub deployment (created once per Gangway deployment); each
   * successful call adds one status.
   */
  async send(n: Notification, ctx: SendContext): Promise<DeliveryResult> {
    const id = await this.ensureDeployment(n, ctx.signal);
    if (typeof id !== 'number') return id;
    const r = await this.request('POST', `/deployments/${id}/statuses`, {
      state: githubState(n),
      description: githubStatusDescription(n),
    }, ctx.signal);
    return r.ok ? { result: 'delivered' } : r.outcome;
  }

  /** The GitHub deployment mirroring `n.deployment`: remembered, found again, or created. */
  private async ensureDeployment(n: Notification, signal: AbortSignal): Promise<number | DeliveryResult> {
    const d = n.deployment;
    const known = this.#ids.get(d.id) ?? await this.recordedId(d.id);
    if (known !== undefined) {
      this.#ids.set(d.id, known);
      return known;
    }
    const ref = d.version;
    const q = new URLSearchParams({ environment: d.environment, ref, per_page: '100' });
    const listed = await this.request('GET', `/deployments?${q}`, undefined, signal);
    if (!listed.ok) return listed.outcome;
    const found = Array.isArray(listed.json)
      ? (listed.json as Array<{ id?: unknown; payload?: unknown }>).find((g) => (g.payload as { gangway?: unknown } | null)?.gangway === d.id)
      : undefined;
    let githubId: number;
    if (found && typeof found.id === 'number') {
      githubId = found.id;
    } else {
      const created = await this.request('POST', '/deployments', {
        ref,
        environment: d.environment,
        description: githubDeploymentDescription(n),
        auto_merge: false,
        required_contexts: [],
        payload: { gangway: d.id },
      }, signal);
      if (!created.ok) return created.outcome;
      const cid = (created.json as { id?: unknown } | null)?.id;
      if (typeof cid !== 'number') {
        const message = (created.json as { message?: unknown } | null)?.message;
        return { result: 'failed', error: `GitHub answered ${created.status} without creating a deployment${typeof message === 'string' ? `: ${message}` : ''}` };
      }
      githubId = cid;
    }
    await this.#store.appendEvents([{ deploymentId: d.id, at: this.#now(), type: GITHUB_DEPLOYMENT_EVENT, data: { notifier: this.name, repo: this.repo, githubId } }]);
    this.#ids.set(d.id, githubId);
    return githubId;
  }

  private async recordedId(deploymentId: string): Promise<number | undefined> {
    const events = await this.#store.listEvents({ deploymentId });
    const rec = events.find((e) => e.type === GITHUB_DEPLOYMENT_EVENT && e.data.notifier === this.name && e.data.repo === this.repo);
    return typeof rec?.data.githubId === 'number' ? rec.data.githubId : undefined;
  }

  private async request(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal): Promise<Answer> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method, signal, redirect: 'manual',
        headers: {
          Authorization: `Bearer ${this.#token}`,
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': API_VERSION,
          'User-Agent': USER_AGENT,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, outcome: { result: 'retry', error: connectionError(err, signal) } };
    }
    let text = '';
    try {
      text = await res.text();
    } catch {
      // The status decides; a body cut short only loses the details.
    }
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, json };
    return { ok: false, outcome: this.classify(res, text, json) };
  }

  /** GitHub's failures: rate limits and 5xx are retried; validation and permission errors are not. */
  private classify(res: Response, text: string, json: unknown): DeliveryResult {
    const error = `GitHub answered ${res.status} to ${this.repo}: ${githubMessage(json) ?? (excerptOf(text) || res.statusText)}`;
    const retryAfter = Number(res.headers.get('retry-after'));
    const remaining = res.headers.get('x-ratelimit-remaining');
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    const limited = (res.status === 403 || res.status === 429) && (Number.isFinite(retryAfter) && retryAfter > 0 || remaining === '0');
    if (limited) {
      const wait = retryAfter > 0 ? retryAfter * 1000 : Number.isFinite(reset) && reset > 0 ? reset * 1000 - Date.now() : undefined;
      return wait === undefined ? { result: 'retry', error } : { result: 'retry', error, retryAfterMs: Math.min(MAX_WAIT_MS, Math.max(0, wait)) };
    }
    if (res.status === 408 || res.status === 429 || res.status >= 500) return { result: 'retry', error };
    return { result: 'failed', error };
  }
}

/** `message` of a GitHub error body, with its validation errors. */
function githubMessage(json: unknown): string | undefined {
  const body = json as { message?: unknown; errors?: unknown } | null;
  if (!body || typeof body.message !== 'string') return undefined;
  const details = Array.isArray(body.errors)
    ? body.errors.map((e: unknown) => typeof e === 'string' ? e : (e as { message?: unknown })?.message).filter((m): m is string => typeof m === 'string')
    : [];
  return details.length > 0 ? `${body.message} (${details.join('; ')})` : body.message;
}
