/**
 * A FAKE of GitHub's Deployments REST API (api.github.com cannot be reached from the test
 * machine). It serves, on 127.0.0.1, what Gangway's GitHub notifier uses, following GitHub's
 * documentation (REST API version 2022-11-28):
 *
 * - `POST /repos/{owner}/{repo}/deployments` — `ref` required and must name a branch, tag or
 *   commit of the repository (422 "No ref found for: …"); `environment` defaults to
 *   `production`, `task` to `deploy`, `payload` to `{}`; `production_environment` defaults to
 *   whether the environment is `production`. 201 with the deployment.
 * - `GET /repos/{owner}/{repo}/deployments[?sha&ref&task&environment&per_page&page]` — newest first.
 * - `GET /repos/{owner}/{repo}/deployments/{id}`.
 * - `POST /repos/{owner}/{repo}/deployments/{id}/statuses` — `state` one of error, failure,
 *   inactive, in_progress, queued, pending, success (422 otherwise); `description` at most
 *   140 characters; `auto_inactive` (default true) marks earlier successful deployments of the
 *   same environment inactive on a new success, except production and transient ones. 201.
 * - `GET /repos/{owner}/{repo}/deployments/{id}/statuses` — newest first.
 *
 * Authentication: `Authorization: Bearer <token>` or `token <token>`; none → 401 "Requires
 * authentication", a wrong one → 401 "Bad credentials". No `User-Agent` → 403, as GitHub
 * rejects such requests. Unparseable JSON → 400 "Problems parsing JSON". Unknown repository or
 * deployment → 404 "Not Found". Not modelled: auto-merge, required status contexts (treated
 * as passing), pagination links, rate limits.
 *
 * `failNext(n)` makes the next n requests answer 502, for retry tests.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGitHubOptions {
  /** The token requests must present. */
  token: string;
  /** `owner/name` → its refs (branch or tag name → commit SHA). */
  repos: Record<string, Record<string, string>>;
  /** Login of the token's user, shown as `creator`. */
  login?: string;
}

export interface FakeDeployment {
  url: string;
  id: number;
  node_id: string;
  sha: string;
  ref: string;
  task: string;
  payload: Record<string, unknown> | string;
  original_environment: string;
  environment: string;
  description: string | null;
  creator: FakeUser;
  created_at: string;
  updated_at: string;
  statuses_url: string;
  repository_url: string;
  transient_environment: boolean;
  production_environment: boolean;
}

export interface FakeDeploymentStatus {
  url: string;
  id: number;
  node_id: string;
  state: string;
  creator: FakeUser;
  description: string;
  environment: string;
  target_url: string;
  created_at: string;
  updated_at: string;
  deployment_url: string;
  repository_url: string;
  environment_url: string;
  log_url: string;
}

interface FakeUser { login: string; id: number; node_id: string; type: 'User'; site_admin: false; url: string }

/** A request the fake received. */
export interface FakeRequest { method: string; path: string; headers: IncomingHttpHeaders; body: string }

const STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
const DOCS = 'https://docs.github.com/rest';

export class FakeGitHub {
  /** Every request, in arrival order. */
  readonly requests: FakeRequest[] = [];
  private readonly deployments = new Map<string, FakeDeployment[]>();
  private readonly statuses = new Map<number, FakeDeploymentStatus[]>();
  private nextId = 1000;
  private failures: Array<{ status: number }> = [];
  private readonly user: FakeUser;

  private constructor(private readonly server: Server, readonly url: string, private readonly opts: FakeGitHubOptions) {
    const login = opts.login ?? 'gangway-bot';
    this.user = { login, id: 583231, node_id: 'MDQ6VXNlcjU4MzIzMQ==', type: 'User', site_admin: false, url: `${url}/users/${login}` };
  }

  /** Starts the fake on a free port of 127.0.0.1. */
  static async start(opts: FakeGitHubOptions): Promise<FakeGitHub> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const fake = new FakeGitHub(server, `http://127.0.0.1:${port}`, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { void fake.handle(req, res); });
    return fake;
  }

  /** The next `n` requests answer `status` (default 502 Bad Gateway) without effect. */
  failNext(n: number, status = 502): void {
    for (let i = 0; i < n; i++) this.failures.push({ status });
  }

  /** Deployments of a repository, oldest first. */
  deploymentsOf(repo: string): FakeDeployment[] {
    return [...(this.deployments.get(repo) ?? [])];
  }

  /** Statuses of a deployment, oldest first. */
  statusesOf(deploymentId: number): FakeDeploymentStatus[] {
    return [...(this.statuses.get(deploymentId) ?? [])];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? '', path: `${u.pathname}${u.search}`, headers: req.headers, body });
    const send = (status: number, json: unknown) => {
      const text = JSON.stringify(json);
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'X-GitHub-Api-Version-Selected': '2022-11-28',
        'X-GitHub-Request-Id': createHash('sha1').update(String(this.requests.length)).digest('hex').slice(0, 16).toUpperCase(),
      });
      res.end(text);
    };
    const failure = this.failures.shift();
    if (failure) { send(failure.status, { message: 'Server Error' }); return; }

    if (!req.headers['user-agent']) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n');
      return;
    }
    const auth = req.headers.authorization;
    if (!auth) { send(401, { message: 'Requires authentication', documentation_url: DOCS, status: '401' }); return; }
    const m = /^(?:Bearer|token) (.+)$/i.exec(auth);
    if (!m || m[1] !== this.opts.token) { send(401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' }); return; }
    const version = req.headers['x-github-api-version'];
    if (version !== undefined && version !== '2022-11-28') {
      send(400, { message: `API version ${String(version)} is not supported.`, documentation_url: `${DOCS}/about-the-rest-api/api-versions`, status: '400' });
      return;
    }

    const route = /^\/repos\/([^/]+)\/([^/]+)\/deployments(?:\/(\d+)(\/statuses)?)?\/?$/.exec(u.pathname);
    const repo = route ? `${decodeURIComponent(route[1]!)}/${decodeURIComponent(route[2]!)}` : '';
    const refs = route ? this.opts.repos[repo] : undefined;
    if (!route || !refs) { send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' }); return; }
    const list = this.deployments.get(repo) ?? [];
    this.deployments.set(repo, list);

    let input: Record<string, unknown> = {};
    if (req.method === 'POST') {
      try {
        const parsed: unknown = JSON.parse(body || '{}');
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        input = parsed as Record<string, unknown>;
      } catch {
        send(400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' });
        return;
      }
    }
    const repoUrl = `${this.url}/repos/${repo}`;

    if (route[3] === undefined) {
      if (req.method === 'GET') {
        const q = u.searchParams;
        const match = list.filter((d) => ['sha', 'ref', 'task', 'environment'].every((k) => !q.has(k) || q.get(k) === d[k as 'sha']));
        const perPage = Math.min(100, Number(q.get('per_page') ?? 30));
        const page = Math.max(1, Number(q.get('page') ?? 1));
        send(200, match.reverse().slice((page - 1) * perPage, page * perPage));
        return;
      }
      if (req.method !== 'POST') { send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' }); return; }
      const invalid = validate(input, {
        ref: 'string', task: 'string', auto_merge: 'boolean', required_contexts: 'string[]', payload: 'payload',
        environment: 'string', description: 'nullable-string', transient_environment: 'boolean', production_environment: 'boolean',
      });
      if (invalid) { send(422, invalid); return; }
      if (input.ref === undefined) {
        send(422, { message: 'Invalid request.\n\n"ref" wasn\'t supplied.', documentation_url: `${DOCS}/deployments/deployments#create-a-deployment`, status: '422' });
        return;
      }
      const ref = input.ref as string;
      const sha = refs[ref] ?? Object.values(refs).find((s) => s === ref || (ref.length >= 7 && s.startsWith(ref)));
      if (!sha) {
        send(422, { message: `No ref found for: ${ref}`, documentation_url: `${DOCS}/deployments/deployments#create-a-deployment`, status: '422' });
        return;
      }
      const id = this.nextId++;
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const environment = (input.environment as string | undefined) ?? 'production';
      let payload = input.payload ?? {};
      if (typeof payload === 'string') {
        try { payload = JSON.parse(payload) as Record<string, unknown>; } catch { /* GitHub keeps a non-JSON string as given */ }
      }
      const d: FakeDeployment = {
        url: `${repoUrl}/deployments/${id}`, id, node_id: Buffer.from(`010:Deployment${id}`).toString('base64'),
        sha, ref, task: (input.task as string | undefined) ?? 'deploy', payload: payload as Record<string, unknown> | string,
        original_environment: environment, environment, description: (input.description as string | null | undefined) ?? null,
        creator: this.user, created_at: now, updated_at: now, statuses_url: `${repoUrl}/deployments/${id}/statuses`,
        repository_url: repoUrl, transient_environment: (input.transient_environment as boolean | undefined) ?? false,
        production_environment: (input.production_environment as boolean | undefined) ?? environment === 'production',
      };
      list.push(d);
      send(201, d);
      return;
    }

    const deployment = list.find((d) => d.id === Number(route[3]));
    if (!deployment) { send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' }); return; }
    if (route[4] === undefined) {
      if (req.method === 'GET') send(200, deployment);
      else send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      return;
    }
    const statuses = this.statuses.get(deployment.id) ?? [];
    this.statuses.set(deployment.id, statuses);
    if (req.method === 'GET') { send(200, [...statuses].reverse()); return; }
    if (req.method !== 'POST') { send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' }); return; }
    const invalid = validate(input, {
      state: 'string', target_url: 'string', log_url: 'string', description: 'string', environment: 'string',
      environment_url: 'string', auto_inactive: 'boolean',
    });
    if (invalid) { send(422, invalid); return; }
    if (input.state === undefined) {
      send(422, { message: 'Invalid request.\n\n"state" wasn\'t supplied.', documentation_url: `${DOCS}/deployments/statuses#create-a-deployment-status`, status: '422' });
      return;
    }
    if (!STATES.includes(input.state as string)) {
      send(422, validationFailed('state', 'state is not included in the list'));
      return;
    }
    const description = (input.description as string | undefined) ?? '';
    if ([...description].length > 140) {
      send(422, validationFailed('description', 'description is too long (maximum is 140 characters)'));
      return;
    }
    const environment = (input.environment as string | undefined) ?? deployment.environment;
    if (input.environment !== undefined) deployment.environment = environment;
    const id = this.nextId++;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status: FakeDeploymentStatus = {
      url: `${repoUrl}/deployments/${deployment.id}/statuses/${id}`, id,
      node_id: Buffer.from(`016:DeploymentStatus${id}`).toString('base64'), state: input.state as string,
      creator: this.user, description, environment, target_url: (input.target_url as string | undefined) ?? (input.log_url as string | undefined) ?? '',
      created_at: now, updated_at: now, deployment_url: deployment.url, repository_url: repoUrl,
      environment_url: (input.environment_url as string | undefined) ?? '', log_url: (input.log_url as string | undefined) ?? (input.target_url as string | undefined) ?? '',
    };
    statuses.push(status);
    deployment.updated_at = now;
    if (status.state === 'success' && input.auto_inactive !== false) this.inactivateEarlier(list, deployment, now, repoUrl);
    send(201, status);
  }

  /** auto_inactive: earlier non-transient, non-production deployments of the environment whose latest state is success. */
  private inactivateEarlier(list: FakeDeployment[], current: FakeDeployment, now: string, repoUrl: string): void {
    for (const d of list) {
      if (d.id === current.id || d.environment !== current.environment || d.transient_environment || d.production_environment) continue;
      const s = this.statuses.get(d.id) ?? [];
      if (s[s.length - 1]?.state !== 'success') continue;
      const id = this.nextId++;
      s.push({
        url: `${repoUrl}/deployments/${d.id}/statuses/${id}`, id, node_id: Buffer.from(`016:DeploymentStatus${id}`).toString('base64'),
        state: 'inactive', creator: this.user, description: '', environment: d.environment, target_url: '', created_at: now, updated_at: now,
        deployment_url: d.url, repository_url: repoUrl, environment_url: '', log_url: '',
      });
    }
  }
}

function validationFailed(field: string, message: string): Record<string, unknown> {
  return {
    message: 'Validation Failed',
    errors: [{ resource: field === 'state' || field === 'description' ? 'DeploymentStatus' : 'Deployment', code: 'custom', field, message }],
    documentation_url: `${DOCS}/deployments/statuses#create-a-deployment-status`,
    status: '422',
  };
}

type FieldType = 'string' | 'nullable-string' | 'boolean' | 'string[]' | 'payload';

/** GitHub's schema check of a request body: a field of the wrong type is a 422 naming it. */
function validate(input: Record<string, unknown>, fields: Record<string, FieldType>): Record<string, unknown> | null {
  for (const [key, type] of Object.entries(fields)) {
    const v = input[key];
    if (v === undefined) continue;
    const ok = type === 'string' ? typeof v === 'string'
      : type === 'nullable-string' ? v === null || typeof v === 'string'
        : type === 'boolean' ? typeof v === 'boolean'
          : type === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
            : typeof v === 'string' || (typeof v === 'object' && v !== null && !Array.isArray(v));
    if (!ok) {
      return {
        message: `Invalid request.\n\nFor 'properties/${key}', ${JSON.stringify(v)} is not ${type === 'boolean' ? 'a boolean' : type === 'string[]' ? 'an array' : type === 'payload' ? 'an object' : 'a string'}.`,
        documentation_url: DOCS, status: '422',
      };
    }
  }
  return null;
}
