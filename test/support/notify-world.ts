/**
 * Given-steps for notification tests: a real SQLite store in a temporary folder, deployments
 * moved through phases the way the engine records them, and real HTTP receivers on 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploymentView } from '../../src/engine/types.js';
import { NotFoundError } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import { FINAL_PHASES } from '../../src/store/types.js';
import type { DeploymentPhase, DeploymentRecord, NewDeployment, Store } from '../../src/store/types.js';

export const CREATED_AT = 1_760_000_000_000;

export interface NotifyWorld {
  store: Store;
  stateDir: string;
  /** Creates a queued deployment (web 1.4.2 to prod by ana, CHG-42, replacing 1.4.1 unless told otherwise). */
  deploy(d?: Partial<NewDeployment>): Promise<DeploymentRecord>;
  /** Moves the oldest queued deployment of the pair to running, as the engine does. */
  start(service?: string, environment?: string, at?: number): Promise<DeploymentRecord>;
  /** Moves a deployment to `to` and appends its `deployment.phase` event (with `data`). */
  phase(id: string, to: DeploymentPhase, at: number, data?: Record<string, unknown>): Promise<void>;
  readDeployment(id: string): Promise<DeploymentView>;
  close(): Promise<void>;
}

export async function notifyWorld(): Promise<NotifyWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'gangway-notify-'));
  const stateDir = join(dir, '.gangway');
  const store = await openStore({ kind: 'sqlite', path: join(stateDir, 'state.db') });
  let n = 0;
  return {
    store,
    stateDir,
    async deploy(d = {}) {
      return store.createDeployment({
        id: `dep-${++n}`, service: 'web', environment: 'prod', kind: 'deploy', version: '1.4.2', image: null,
        actor: 'ana', reason: 'CHG-42', previousVersion: '1.4.1', planHash: 'plan', createdAt: CREATED_AT,
        steps: [{ type: 'noop', title: 'nothing', params: {} }],
        ...d,
      });
    },
    async start(service = 'web', environment = 'prod', at = CREATED_AT + 1000) {
      const d = await store.startNextQueued(service, environment, at);
      if (!d) throw new Error(`nothing queued for ${service} in ${environment}`);
      return d;
    },
    async phase(id, to, at, data = {}) {
      const d = await store.getDeployment(id);
      if (!d) throw new Error(`no deployment ${id}`);
      const final = FINAL_PHASES.includes(to);
      const message = typeof data.message === 'string' && (final || to === 'rolling_back') ? data.message : undefined;
      const ok = await store.transition({
        deploymentId: id,
        deployment: { phase: to, ...(final ? { finishedAt: at } : {}), ...(message !== undefined ? { message } : {}) },
        events: [{ deploymentId: id, at, type: 'deployment.phase', data: { from: d.phase, to, ...data } }],
      });
      if (!ok) throw new Error(`transition of ${id} to ${to} was refused`);
    },
    async readDeployment(id) {
      const d = await store.getDeployment(id);
      if (!d) throw new NotFoundError(`deployment ${id} not found`);
      return { ...d, steps: await store.getSteps(id), step: null, verdicts: [], gates: [] };
    },
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A request a receiver got. */
export interface Received { method: string; path: string; headers: IncomingHttpHeaders; body: string }

/** What a receiver answers: a status (with body and headers), or `hang` to never answer. */
export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/**
 * A real HTTP receiver on 127.0.0.1 that records every request and answers as `answer` says
 * (by the request's 0-based index); 200 "ok" by default.
 */
export class Receiver {
  readonly received: Received[] = [];
  private constructor(private readonly server: ReturnType<typeof createServer>, readonly url: string) {}

  static async start(answer: (req: Received, index: number) => Answer = () => ({ status: 200, body: 'ok' })): Promise<Receiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        const index = receiver.received.push(r) - 1;
        const a = answer(r, index);
        if (a === 'hang') return;
        res.writeHead(a.status, { 'Content-Type': 'text/plain', ...a.headers });
        res.end(a.body ?? '');
      });
    });
    return receiver;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
