/**
 * Wires a running orchestrator: store, local agent (started when missing), runner and HTTP API.
 * `gangway up` and `gangway demo` both use it.
 */
import { pino, type Logger } from 'pino';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GangwayConfig } from '../config/types.js';
import { openStore } from '../store/open.js';
import { ensureAgent } from '../agent/client.js';
import { LocalTarget } from '../targets/local/local-target.js';
import { Orchestrator } from '../engine/orchestrator.js';
import { OrchestratorMetrics } from '../engine/orchestrator-metrics.js';
import { Runner } from '../engine/runner.js';
import { ReleaseSampler, samplingInterval } from '../engine/release-sampler.js';
import { createAnalysisRuntime } from '../engine/analysis-runtime.js';
import { countersOf, createMetricProviders } from '../metrics/registry.js';
import { capabilityProblems } from '../engine/capabilities.js';
import { formatPath } from '../config/problems.js';
import { buildTargets, targetKinds } from './targets.js';
import { checkTools, toolsError } from './tool-checks.js';
import { createGates } from '../gates/index.js';
import { PeopleGates } from '../gates/people.js';
import { NotificationDispatcher } from '../notify/notifier.js';
import { RecordsWriter } from '../records/records-writer.js';
import { buildServer } from '../server/app.js';
import { ensureToken } from './token.js';
import { assertNotRunning, removeLock, writeLock } from './running.js';
import { apiUrlFor } from './context.js';
import { GangwayError, PortInUseError } from '../errors.js';
import { GANGWAY_VERSION } from '../version.js';

export interface RunningOrchestrator {
  config: GangwayConfig;
  orchestrator: Orchestrator;
  runner: Runner;
  url: string;
  token: string;
  logger: Logger;
  /** Stops the runner (leases released, steps resumable), the API and the store. The agent keeps serving. */
  close(): Promise<void>;
}

export async function startOrchestrator(config: GangwayConfig, opts: { logToStdout?: boolean; command?: string } = {}): Promise<RunningOrchestrator> {
  // Before anything is created or started: a second `gangway up` must not touch the first one's agent or store.
  await assertNotRunning(config);
  // The tools the targets run (helm, kubectl, git) and the token variables they read, before anything
  // is created — the log file too: a process exiting before its asynchronous log stream has opened
  // dies in pino's exit hook ("sonic boom is not ready yet") with a stack trace after the message.
  const tools = toolsError(await checkTools(config, { network: false }));
  if (tools) throw tools;
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const logger = pino({ level: process.env.GANGWAY_LOG_LEVEL ?? 'info', redact: ['req.headers.authorization', 'headers.authorization'] },
    opts.logToStdout ? pino.destination(1) : pino.destination({ dest: join(config.stateDir, 'orchestrator.log'), mkdir: true, sync: false }));
  const token = ensureToken(config.stateDir);
  const store = await openStore(config.store);
  // The local agent runs only for services on the local target; a Kubernetes-only project has none.
  let agent = null;
  if (targetKinds(config).has('local')) {
    try {
      agent = await ensureAgent({
        stateDir: config.stateDir, metricsPort: config.agent.metricsPort, host: config.agent.host,
        forwardedHeaders: config.agent.forwardedHeaders, trustForwarded: config.agent.trustForwarded,
      });
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  // The engine holds one Target: the composite sending each service to the adapter of its kind.
  const target = buildTargets(config, agent ? { local: new LocalTarget(agent) } : {}, { log: logger });
  // `up` and `validate` report these with file:line; this guard covers configs built otherwise.
  const problems = capabilityProblems(config, target);
  if (problems.length > 0) {
    await store.close();
    throw new GangwayError('invalid_config', problems.map((p) => `${formatPath(['services', p.service, ...p.path])} (environment ${p.environment}): ${p.message}`).join('\n'), problems[0].hint);
  }
  const metrics = createMetricProviders(config, countersOf(config, target));
  const analysis = createAnalysisRuntime(store, config, metrics);
  const { gates, images } = createGates(config, store);
  let wakeRunner = () => {};
  const orchestrator = new Orchestrator({ store, config, target, onChange: () => wakeRunner(), requests: metrics.requests, gates, images });
  const runner = new Runner({ store, config, target, logger, analysis, gates: orchestrator.gateRuntime() });
  wakeRunner = () => runner.wake();
  // Regular readings of the agent's counters, so metric windows end close to any moment asked about.
  const sampler = setInterval(() => {
    for (const service of config.serviceNames) {
      for (const env of config.environments) metrics.builtin.sample(service, env.name).catch(() => undefined);
    }
  }, 5000);
  sampler.unref();
  // Per-release samples of every active deployment, stored for the rollout page's charts, and of
  // the serving releases between deployments (every 10 s) for the service page's last hour.
  const releaseSampler = new ReleaseSampler({
    store, requests: metrics.requests, intervalMs: samplingInterval(Object.values(config.analysisTemplates)), log: logger, owner: runner.owner,
    servingIntervalMs: 10_000,
  });
  // Records and notifications follow the event log on their own cursors, started before any
  // request can add events, so a crash or a restart loses none.
  const readDeployment = (id: string) => orchestrator.getDeployment(id);
  const dispatcher = config.notifications.length > 0 ? new NotificationDispatcher({ store, config, stateDir: config.stateDir, readDeployment, log: logger }) : null;
  await dispatcher?.start();
  const records = config.records ? new RecordsWriter({ store, config, readDeployment, log: logger }) : null;
  records?.start();
  const server = buildServer({
    // Faults of the API (every 5xx, with its route and stack) go to the orchestrator's log; a line
    // per request would bury them under the dashboard's polling.
    orchestrator, token, version: GANGWAY_VERSION, logger: logger.child({ component: 'api' }), logRequests: false, gates: new PeopleGates({ store, config }),
    metrics: new OrchestratorMetrics({ store, config, version: GANGWAY_VERSION }),
    auth: { store, environments: config.environments.map((e) => e.name) },
  });
  try {
    await server.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    clearInterval(sampler);
    await dispatcher?.stop();
    await records?.stop();
    await store.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new GangwayError('port_in_use', `the API port ${config.server.port} on ${config.server.host} is already in use — is another \`gangway up\` running?`,
        'stop it, or set server.port in gangway.yaml', undefined, { cause: new PortInUseError(config.server.port, config.server.host) });
    }
    throw err;
  }
  runner.start();
  releaseSampler.start();
  writeLock(config.stateDir, { pid: process.pid, url: apiUrlFor(config.server.host, config.server.port), command: opts.command ?? 'up', startedAt: Date.now() });
  logger.info({ url: `http://${config.server.host}:${config.server.port}`, owner: runner.owner }, 'orchestrator started');
  return {
    config, orchestrator, runner, token, logger,
    url: `http://${config.server.host}:${config.server.port}`,
    async close() {
      clearInterval(sampler);
      await releaseSampler.stop();
      await runner.stop();
      await dispatcher?.stop();
      await records?.stop();
      await server.close();
      await target.close();
      await store.close();
      removeLock(config.stateDir);
      logger.info('orchestrator stopped');
      logger.flush();
    },
  };
}
