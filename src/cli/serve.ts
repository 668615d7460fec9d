/**
 * Wires a running orchestrator: store, local agent (started when missing), runner and HTTP API.
 * `gangway up` and `gangway demo` both use it.
 */
import { pino, type Logger } from 'pino';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GangwayConfig } from '../config/types.js';
import { openStore } from '../store/open.js';
import { ensureAgent, superviseAgent } from '../agent/client.js';
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
import { RegistryClient } from '../gates/registry/client.js';
import { AutoDeployer } from '../autodeploy/deployer.js';
import { PeopleGates } from '../gates/people.js';
import { NotificationDispatcher } from '../notify/notifier.js';
import { AlertMonitor } from '../alerts/monitor.js';
import { RecordsWriter } from '../records/records-writer.js';
import { buildServer } from '../server/app.js';
import { ensureToken } from './token.js';
import { assertNotRunning, lockNameFor, removeLock, writeLock } from './running.js';
import { configFingerprint, joinReplicas, REPLICA_TTL_MS } from './replicas.js';
import { Leadership, type BackgroundUnit } from '../engine/leader.js';
import { GroupDriver } from '../releases/group-driver.js';
import { Releases } from '../releases/releases.js';
import { newOwnerId } from '../engine/lease.js';
import type { Store } from '../store/types.js';
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

/**
 * The orchestrator's log file. A write that fails (the disk full) must not end the
 * orchestrator: it is said once on stderr, the lines wait and are written once space is back
 * (tried again every second; past 16 MiB waiting, new lines are dropped).
 */
function survivingLog(file: string): ReturnType<typeof pino.destination> {
  const destination = pino.destination({ dest: file, mkdir: true, sync: false, maxLength: 16 << 20 });
  let told = false;
  let retry: NodeJS.Timeout | null = null;
  destination.on('error', (err: NodeJS.ErrnoException) => {
    // Try the waiting lines again every second, even when nothing new is logged.
    retry ??= setTimeout(() => { retry = null; destination.write(''); }, 1000);
    retry.unref();
    if (told) return;
    told = true;
    process.stderr.write(`gangway: cannot write ${file} (${err.code ?? err.message}${err.code === 'ENOSPC' ? ': disk full' : ''}); log lines wait until it can be written — free space on its disk\n`);
  });
  destination.on('write', () => { told = false; });
  return destination;
}

export interface StartOptions {
  logToStdout?: boolean;
  command?: string;
  /** This orchestrator's own API address (`gangway up --listen`), instead of `server.host`/`server.port`. */
  listen?: { host: string; port: number };
}

export async function startOrchestrator(config: GangwayConfig, opts: StartOptions = {}): Promise<RunningOrchestrator> {
  if (opts.listen) config = { ...config, server: { ...config.server, host: opts.listen.host, port: opts.listen.port } };
  const lockName = lockNameFor(config);
  // Before anything is created or started: a second `gangway up` must not touch the first one's agent or store.
  await assertNotRunning(config);
  // The tools the targets run (helm, kubectl, git) and the token variables they read, before anything
  // is created — the log file too: a process exiting before its asynchronous log stream has opened
  // dies in pino's exit hook ("sonic boom is not ready yet") with a stack trace after the message.
  const tools = toolsError(await checkTools(config, { network: false }));
  if (tools) throw tools;
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const logger = pino({ level: process.env.GANGWAY_LOG_LEVEL ?? 'info', redact: ['req.headers.authorization', 'headers.authorization'] },
    opts.logToStdout ? pino.destination(1) : survivingLog(join(config.stateDir, 'orchestrator.log')));
  const token = ensureToken(config.stateDir);
  const store = await openStore(config.store);
  const apiUrl = apiUrlFor(config.server.host, config.server.port);
  const replicaId = newOwnerId();
  const fingerprint = configFingerprint(config);
  try {
    // Replicas on one store run one config and one version; refused before anything else is touched.
    await joinReplicas(store, {
      id: replicaId, url: apiUrl, version: GANGWAY_VERSION, configHash: fingerprint.hash, configKeys: fingerprint.keys,
      startedAt: Date.now(), heartbeatAt: Date.now(),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  // The local agent runs only for services on the local target; a Kubernetes-only project has none.
  let agent = null;
  const agentOptions = {
    stateDir: config.stateDir, metricsPort: config.agent.metricsPort, host: config.agent.host,
    forwardedHeaders: config.agent.forwardedHeaders, trustForwarded: config.agent.trustForwarded,
  };
  if (targetKinds(config).has('local')) {
    try {
      agent = await ensureAgent(agentOptions);
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
  const registry = new RegistryClient(config.registries);
  const { gates, images } = createGates(config, store, registry);
  let wakeRunner = () => {};
  const orchestrator = new Orchestrator({ store, config, target, onChange: () => wakeRunner(), requests: metrics.requests, gates, images });
  // The work done once across replicas runs on whichever holds the background lease.
  let leadership: Leadership | null = null;
  const background = () => leadership?.isLeader() ?? false;
  const runner = new Runner({ store, config, target, logger, analysis, gates: orchestrator.gateRuntime(), owner: replicaId, background });
  // Alert tiers on the deployments this runner drives; a tier's rollback goes through the runner.
  const alertMonitor = new AlertMonitor({ store, config, analysis, target, owner: runner.owner, rollback: (id, reason) => runner.fail(id, reason), log: logger.child({ component: 'alerts' }) });
  // Polls registries for new tags; one unit with start/stop, for whichever replica leads.
  const autoDeployer = new AutoDeployer({ store, config, orchestrator, registry, log: logger.child({ component: 'autodeploy' }) });
  wakeRunner = () => runner.wake();
  // Releases of several services: requested through the API, driven (once across replicas) by the group driver.
  const groupDriver = new GroupDriver({ store, commands: orchestrator, wake: () => runner.wake(), log: logger.child({ component: 'releases' }) });
  const releases = new Releases({ store, config, orchestrator, onChange: () => runner.wake() });
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
    servingIntervalMs: 10_000, background,
  });
  // Records and notifications follow the event log on their own cursors (kept in the store), and
  // with auto-deploy polling run on the replica holding the background lease. The first attempt
  // for it is made before the API listens, so a single orchestrator follows the log before any
  // request can add events.
  const readDeployment = (id: string) => orchestrator.getDeployment(id);
  const dispatcher = config.notifications.length > 0
    ? new NotificationDispatcher({ store, config, stateDir: config.stateDir, readDeployment, log: logger, guard: () => leadership?.guard() ?? null }) : null;
  const records = config.records ? new RecordsWriter({ store, config, readDeployment, log: logger }) : null;
  const units: BackgroundUnit[] = [];
  if (dispatcher) units.push({ name: 'notifications', start: () => dispatcher.start(), stop: () => dispatcher.stop() });
  if (records) units.push({ name: 'records', start: () => records.start(), stop: () => records.stop() });
  if (autoDeployer.active) units.push({ name: 'autodeploy', start: () => autoDeployer.start(), stop: () => autoDeployer.stop() });
  units.push({ name: 'releases', start: () => groupDriver.start(), stop: () => groupDriver.stop() });
  leadership = new Leadership({ store, owner: replicaId, units, log: logger.child({ component: 'leader' }) });
  await leadership.tick();
  // The replica's heartbeat: a registration without one for REPLICA_TTL_MS is no longer live.
  const heartbeat = setInterval(() => { store.heartbeatReplica(replicaId, Date.now()).catch(() => undefined); }, REPLICA_TTL_MS / 3);
  heartbeat.unref();
  const server = buildServer({
    // Faults of the API (every 5xx, with its route and stack) go to the orchestrator's log; a line
    // per request would bury them under the dashboard's polling.
    orchestrator, token, version: GANGWAY_VERSION, logger: logger.child({ component: 'api' }), logRequests: false, gates: new PeopleGates({ store, config }),
    metrics: new OrchestratorMetrics({ store, config, version: GANGWAY_VERSION }),
    auth: { store, environments: config.environments.map((e) => e.name) },
    readiness: () => readiness(store),
    autodeploy: { deployer: autoDeployer, config },
    releases,
  });
  try {
    await server.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    clearInterval(sampler);
    clearInterval(heartbeat);
    await leadership.stop();
    await store.removeReplica(replicaId).catch(() => undefined);
    await store.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new GangwayError('port_in_use', `the API port ${config.server.port} on ${config.server.host} is already in use — is another \`gangway up\` running?`,
        'stop it, or set server.port in gangway.yaml', undefined, { cause: new PortInUseError(config.server.port, config.server.host) });
    }
    throw err;
  }
  runner.start();
  alertMonitor.start();
  leadership.start();
  releaseSampler.start();
  // An agent that dies (SIGKILL, a crash) is started again at once; it re-adopts the instances
  // and reopens the public ports from its state file (docs/faults.md).
  const agentWatch = agent ? superviseAgent({
    ...agentOptions,
    onRestart: (o) => (o.ok ? logger.warn({ ms: o.ms }, 'the local agent had died; started it again') : logger.error({ ms: o.ms, err: o.error }, 'the local agent had died and could not be started again')),
  }) : null;
  writeLock(config.stateDir, { pid: process.pid, url: apiUrl, command: opts.command ?? 'up', startedAt: Date.now() }, lockName);
  logger.info({ url: `http://${config.server.host}:${config.server.port}`, owner: runner.owner, leader: leadership.isLeader() }, 'orchestrator started');
  return {
    config, orchestrator, runner, token, logger,
    url: `http://${config.server.host}:${config.server.port}`,
    async close() {
      clearInterval(sampler);
      clearInterval(heartbeat);
      agentWatch?.stop();
      await alertMonitor.stop();
      await releaseSampler.stop();
      await runner.stop();
      // Gives the background lease up, so another replica takes the background work over at once.
      await leadership!.stop();
      await server.close();
      await target.close();
      await store.removeReplica(replicaId).catch(() => undefined);
      await store.close();
      removeLock(config.stateDir, lockName);
      logger.info('orchestrator stopped');
      logger.flush();
    },
  };
}

/** `/readyz`: the store answers and its migrations are exactly this Gangway's. */
async function readiness(store: Store): Promise<{ ready: boolean; problems: string[] }> {
  try {
    const { pending, unknown } = await store.migrationStatus();
    const problems = [
      ...(pending.length > 0 ? [`store migrations pending: ${pending.join(', ')}`] : []),
      ...(unknown.length > 0 ? [`the store has migrations newer than this Gangway: ${unknown.join(', ')}`] : []),
    ];
    return { ready: problems.length === 0, problems };
  } catch (err) {
    return { ready: false, problems: [`the store does not answer: ${err instanceof Error ? err.message : String(err)}`] };
  }
}
