/**
 * `RawConfig` (validated, as written) → `GangwayConfig` (complete, frozen). Every default is
 * applied here and nowhere else; relative paths are resolved against the config file's folder.
 * The records looked up by a name from outside (`services`, each service's environments,
 * `analysisTemplates`, `groups`) have no prototype: a name that is not declared, such as
 * `constructor` or `toString`, finds nothing rather than an Object method.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_CANARY_STEPS, PRESETS } from '../analysis/presets.js';
import { ALERT_TIER_PRESETS } from '../alerts/presets.js';
import type { HttpExpect } from '../core/http-check.js';
import { GangwayError } from '../errors.js';
import type {
  AlertAction, AlertTier, AutoDeployConfig, AlertsConfig, AnalysisRule, AnalysisTemplate, CanaryStep, CanaryStrategy, CustomCheck, EffectSize, EnvironmentConfig, GangwayConfig, HealthConfig,
  MetricSource, MigrationConfig, NotifierConfig, RecordsConfig, RegistryConfig, ServiceEnvConfig, SmokeCheck, StrategyConfig, TargetConfig, VerdictPolicy,
  WindowRange,
} from './types.js';
import { parseDuration } from './duration.js';
import { envValue, migrationSecrets, notifierSecrets, readSecret } from './integrations.js';
import type { SecretRef } from './integrations.js';
import { readPublicKey } from './keys.js';
import { formatPath } from './problems.js';
import { DEFAULTS, defaultDirection, NOTIFY_EVENTS, TARGET_KINDS } from './schema.js';
import type { RawAlerts, RawAnalysisTemplate, RawConfig, RawEnvironment, RawMetricSource, RawMigrations, RawNotifier, RawRecords, RawServiceSettings } from './schema.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Inputs of {@link compileConfig} besides the file's content. */
export interface CompileOptions {
  /** Path of the config file; its folder is the project's root. */
  file: string;
  /**
   * Where every `…FromEnv` key is looked up (`store.postgres.urlFromEnv`, the registries',
   * the notifiers' and the migrations' secrets). Default `process.env`.
   */
  env?: Env;
}

/**
 * Applies every default, merges each environment's overrides into each service, resolves paths
 * and freezes the result. Expects input that passed validation (see `parseConfig`).
 *
 * @example
 * const config = compileConfig(configSchema.parse(data), { file: '/srv/shop/gangway.yaml' });
 * config.services.web.prod.target.port; // 9080
 * @throws GangwayError (`invalid_config`) when a `…FromEnv` key (store, registry, notifier,
 *   migrations) names an unset variable or a URL variable holds no URL of its kind, or a
 *   signature key cannot be read.
 */
export function compileConfig(raw: RawConfig, options: CompileOptions): GangwayConfig {
  const file = resolve(options.file);
  const rootDir = dirname(file);
  const stateDir = resolve(rootDir, raw.stateDir ?? DEFAULTS.stateDir);
  const env = options.env ?? process.env;
  const environments = Object.entries(raw.environments).map(([name, e]) => compileEnvironment(name, e, rootDir, env, Object.keys(raw.services)));
  const serviceNames = Object.keys(raw.services);

  const services = lookup<Record<string, ServiceEnvConfig>>();
  for (const [service, definition] of Object.entries(raw.services)) {
    const { environments: overrides, ...base } = definition;
    const perEnvironment = lookup<ServiceEnvConfig>();
    for (const { name: environment } of environments) {
      const override = overrides && Object.hasOwn(overrides, environment) ? overrides[environment] : undefined;
      perEnvironment[environment] = compileServiceEnv(service, environment, mergeOverride(base, override), { rootDir, stateDir, env });
    }
    services[service] = perEnvironment;
  }

  return deepFreeze({
    project: raw.project,
    file,
    rootDir,
    stateDir,
    server: { host: raw.server?.host ?? DEFAULTS.server.host, port: raw.server?.port ?? DEFAULTS.server.port, allowedHosts: [...(raw.server?.allowedHosts ?? [])] },
    agent: {
      metricsPort: raw.agent?.metricsPort ?? DEFAULTS.agent.metricsPort,
      host: raw.agent?.host ?? DEFAULTS.agent.host,
      forwardedHeaders: raw.agent?.forwardedHeaders ?? DEFAULTS.agent.forwardedHeaders,
      trustForwarded: [...(raw.agent?.trustForwarded ?? DEFAULTS.agent.trustForwarded)],
    },
    store: compileStore(raw, rootDir, stateDir, env),
    environments,
    serviceNames,
    services,
    analysisTemplates: compileTemplates(raw.analysis ?? {}),
    groups: lookup(Object.entries(raw.groups ?? {}).map(([name, members]) => [name, [...members]])),
    registries: (raw.registries ?? []).map((r, i) => compileRegistry(r, i, env)),
    incidents: raw.incidents
      ? { label: raw.incidents.label ?? DEFAULTS.incidents.label, value: raw.incidents.value ?? DEFAULTS.incidents.value }
      : null,
    records: raw.records ? compileRecords(raw.records, rootDir) : null,
    notifications: (raw.notifications ?? []).map((n, i) => compileNotifier(n, i, env)),
    alerts: raw.alerts ? compileAlerts(raw.alerts) : null,
    metrics: {
      prometheus: raw.metrics?.prometheus
        ? {
          // The provider appends API paths; a trailing slash would double up.
          address: raw.metrics.prometheus.address.replace(/\/+$/, ''),
          timeoutMs: parseDuration(raw.metrics.prometheus.timeout ?? DEFAULTS.metrics.prometheus.timeout),
        }
        : null,
      requests: raw.metrics?.requests ? { ...DEFAULTS.metrics.requests, ...raw.metrics.requests } : null,
    },
  });
}

function compileStore(raw: RawConfig, rootDir: string, stateDir: string, env: Env): GangwayConfig['store'] {
  const pg = raw.store?.postgres;
  if (pg) {
    if (pg.url !== undefined) return { kind: 'postgres', url: pg.url };
    const url = envValue(env, pg.urlFromEnv ?? '');
    if (!url) {
      throw new GangwayError('invalid_config', `store.postgres.urlFromEnv: environment variable ${pg.urlFromEnv} is not set`,
        `set ${pg.urlFromEnv} to a postgres:// URL before starting gangway`);
    }
    return { kind: 'postgres', url };
  }
  // The database belongs with the rest of the state unless the file puts it elsewhere.
  const path = raw.store?.sqlite?.path;
  return { kind: 'sqlite', path: path === undefined ? join(stateDir, 'state.db') : resolve(rootDir, path) };
}

function compileRegistry(r: NonNullable<RawConfig['registries']>[number], index: number, env: Env): RegistryConfig {
  const secret = (variable: string | undefined, key: string): string | null => {
    if (variable === undefined) return null;
    const value = envValue(env, variable);
    if (!value) {
      throw new GangwayError('invalid_config', `registries[${index}].${key}: environment variable ${variable} is not set`,
        `set ${variable} before starting gangway`);
    }
    return value;
  };
  return {
    host: r.host,
    insecure: r.insecure ?? DEFAULTS.registry.insecure,
    username: r.username ?? null,
    password: secret(r.passwordFromEnv, 'passwordFromEnv'),
    token: secret(r.tokenFromEnv, 'tokenFromEnv'),
  };
}

/** A secret's value; validation has reported a missing one, so here it is a fault of the caller. */
function secret(ref: SecretRef, env: Env, prefix: readonly (string | number)[] = []): string {
  const result = readSecret(ref, env);
  if (!result.ok) throw new GangwayError('invalid_config', `${formatPath([...prefix, ...ref.path])}: ${result.message}`, result.hint);
  return result.value;
}

function compileRecords(r: RawRecords, rootDir: string): RecordsConfig {
  const d = DEFAULTS.records;
  return {
    repo: resolve(rootDir, r.repo),
    // A trailing slash would only make joined paths uneven.
    path: (r.path ?? d.path).replace(/\/+$/, ''),
    remote: r.remote ?? null,
    branch: r.branch ?? null,
    author: { name: r.author?.name ?? d.author.name, email: r.author?.email ?? d.author.email },
    pushRetries: r.pushRetries ?? d.pushRetries,
  };
}

function compileNotifier(n: RawNotifier, index: number, env: Env): NotifierConfig {
  const d = DEFAULTS.notifications;
  const common = {
    name: n.name,
    events: [...(n.events ?? NOTIFY_EVENTS)],
    timeoutMs: parseDuration(n.timeout ?? d.timeout),
    retries: n.retries ?? d.retries,
  };
  const secrets = notifierSecrets(n, index);
  const read = (key: string): string => secret(secrets.find((ref) => ref.path[ref.path.length - 1] === key) as SecretRef, env);
  if (n.webhook) {
    const url = n.webhook.url ?? read('urlFromEnv');
    return { kind: 'webhook', ...common, url, secret: n.webhook.secretFromEnv === undefined ? null : read('secretFromEnv') };
  }
  if (n.slack) return { kind: 'slack', ...common, url: n.slack.url ?? read('urlFromEnv') };
  // Validation lets through exactly one kind, so here it is `github`.
  const github = n.github as NonNullable<RawNotifier['github']>;
  return {
    kind: 'github', ...common,
    // The client appends API paths; a trailing slash would double up.
    apiUrl: (github.apiUrl ?? d.githubApiUrl).replace(/\/+$/, ''),
    repo: github.repo,
    token: read('tokenFromEnv'),
  };
}

interface ServiceContext { rootDir: string; stateDir: string; env: Env }

function compileMigrations(m: RawMigrations, service: string, serviceCwd: string, ctx: ServiceContext): MigrationConfig {
  const secrets = migrationSecrets(m);
  const url = (conn: { url?: string; urlFromEnv?: string }, key: 'backup' | 'validate'): string =>
    conn.url ?? secret(secrets.find((ref) => ref.path[0] === key) as SecretRef, ctx.env, ['services', service, 'migrations']);
  const pgDump = m.backup?.pgDump;
  const sql = m.validate?.sql;
  return {
    backup: pgDump
      ? { kind: 'pgDump', url: url(pgDump, 'backup'), dir: pgDump.dir === undefined ? join(ctx.stateDir, DEFAULTS.migrations.backupDir) : resolve(ctx.rootDir, pgDump.dir) }
      : m.backup?.run ? { kind: 'run', argv: [...m.backup.run] } : null,
    migrate: { argv: [...m.migrate] },
    validate: sql
      ? { kind: 'sql', url: url(sql, 'validate'), query: sql.query }
      : m.validate?.run ? { kind: 'run', argv: [...m.validate.run] } : null,
    // Validation lets through a rollback word or a mapping with `down`.
    rollback: typeof m.rollback === 'string'
      ? { kind: m.rollback === 'restore' ? 'restore' : 'irreversible' }
      : { kind: 'down', argv: [...(m.rollback.down as string[])] },
    cwd: m.cwd === undefined ? serviceCwd : resolve(ctx.rootDir, m.cwd),
    timeoutMs: parseDuration(m.timeout ?? DEFAULTS.migrations.timeout),
    env: { ...m.env },
  };
}

function compileEnvironment(name: string, env: RawEnvironment, rootDir: string, vars: Env, serviceNames: string[]): EnvironmentConfig {
  const out: EnvironmentConfig = {
    name,
    reason: env.reason ?? DEFAULTS.reason,
    queue: env.queue ?? DEFAULTS.queue,
    windows: compileWindows(env.windows ?? []),
    checks: (env.checks ?? []).map((c) => compileCheck(c, rootDir)),
    checklist: (env.checklist ?? []).map((item) => ({ name: item.name, text: item.text, confirmers: [...item.confirmers] })),
    image: env.image
      ? {
        exists: env.image.exists ?? DEFAULTS.image.exists,
        signature: env.image.signature ? { publicKey: compilePublicKey(env.image.signature.publicKey, name, rootDir) } : null,
      }
      : null,
    expedited: env.expedited ? { skip: [...(env.expedited.skip ?? DEFAULTS.expedited.skip)] } : null,
  };
  if (env.promotion) out.promotion = { from: env.promotion.from };
  // Absent when the file says nothing: release groups then use DEFAULTS.releaseOnFailure.
  if (env.releases) out.releases = { onFailure: env.releases.onFailure ?? DEFAULTS.releaseOnFailure };
  if (env.autoDeploy) out.autoDeploy = compileAutoDeploy(name, env.autoDeploy, vars, serviceNames);
  if (env.approvals) {
    out.approvals = {
      required: env.approvals.required,
      groups: [...env.approvals.groups],
      allowSelfApproval: env.approvals.allowSelfApproval ?? DEFAULTS.allowSelfApproval,
      expiresMs: env.approvals.expires === undefined ? DEFAULTS.approvalExpires : parseDuration(env.approvals.expires),
    };
  }
  return out;
}

function compileAutoDeploy(name: string, a: NonNullable<RawEnvironment['autoDeploy']>, vars: Env, serviceNames: string[]): AutoDeployConfig {
  let webhook: AutoDeployConfig['webhook'] = null;
  if (a.webhook && a.secretFromEnv !== undefined) {
    const value = envValue(vars, a.secretFromEnv);
    if (!value) {
      throw new GangwayError('invalid_config', `environments.${name}.autoDeploy.secretFromEnv: environment variable ${a.secretFromEnv} is not set`,
        `set ${a.secretFromEnv} to the secret CI signs its requests with before starting gangway`);
    }
    webhook = { secretFromEnv: a.secretFromEnv, secret: value };
  }
  return {
    image: a.image ? {
      repository: a.image.repository, tagPattern: a.image.tagPattern,
      order: a.image.order ?? DEFAULTS.autoDeploy.order as 'semver' | 'pushed',
      intervalMs: parseDuration(a.image.interval ?? DEFAULTS.autoDeploy.interval),
    } : null,
    webhook,
    services: a.services ? [...a.services] : [...serviceNames],
    allowPromoted: a.allowPromoted ?? false,
  };
}

/** An environment's windows with their defaults (every day, UTC); also what the window gate validates. */
export function compileWindows(windows: NonNullable<RawEnvironment['windows']>): EnvironmentConfig['windows'] {
  return windows.map((w) => ({
    ...(w.allow ? { allow: compileRange(w.allow) } : {}),
    ...(w.deny ? { deny: compileRange(w.deny) } : {}),
    timezone: w.timezone ?? DEFAULTS.timezone,
  }));
}

function compileRange(r: { days?: string[]; from?: string; to?: string; start?: string; end?: string }): WindowRange {
  // Validation lets through a complete range of exactly one shape.
  if (r.start !== undefined) return { start: r.start, end: r.end as string };
  return { days: [...(r.days ?? DEFAULTS.days)], from: r.from as string, to: r.to as string };
}

function compileCheck(c: NonNullable<RawEnvironment['checks']>[number], rootDir: string): CustomCheck {
  const timeoutMs = parseDuration(c.timeout ?? DEFAULTS.checks.timeout);
  if (c.run) return { name: c.name, kind: 'run', argv: [...c.run], cwd: rootDir, timeoutMs };
  // Validation lets through exactly one of run and webhook, so here it is `webhook`.
  const hook = c.webhook as NonNullable<typeof c.webhook>;
  return {
    name: c.name, kind: 'webhook', url: hook.url, method: hook.method ?? DEFAULTS.checks.method,
    headers: { ...hook.headers }, expect: compileExpect(hook.expect, DEFAULTS.checks.status), timeoutMs,
  };
}

/** The key's PEM text: the deployment gate verifies against what was read when the file was loaded. */
function compilePublicKey(value: string, environment: string, rootDir: string): string {
  const key = readPublicKey(value, rootDir);
  if (!key.ok) throw new GangwayError('invalid_config', `environments.${environment}.image.signature.publicKey: ${key.message}`, key.hint);
  return key.pem;
}

/** The compiled target and the folder commands of the service (smoke checks) run in. */
function compileTarget(service: string, t: RawServiceSettings['target'], rootDir: string): { target: TargetConfig; cwd: string } {
  const d = DEFAULTS.kubernetes;
  const path = (p: string) => resolve(rootDir, p.replace(/^~(?=\/|$)/, homedir()));
  type Cluster = { kubeconfig?: string; context?: string; namespace?: string; requestTimeout?: string };
  const cluster = (c: Cluster) => ({
    kubeconfig: c.kubeconfig ? path(c.kubeconfig) : null,
    context: c.context ?? null,
    namespace: c.namespace ?? null,
    requestTimeoutMs: parseDuration(c.requestTimeout ?? d.requestTimeout),
  });
  type Objects = { deployment?: string; container?: string; service?: string; port?: number; instances?: number; restartLimit?: number };
  const objects = (o: Objects, name: string) => ({
    instances: o.instances ?? DEFAULTS.instances,
    deployment: o.deployment ?? name,
    container: o.container ?? null,
    service: o.service ?? name,
    port: o.port ?? null,
    restartLimit: o.restartLimit ?? d.restartLimit,
  });
  const k = t.kubernetes;
  if (k) {
    return {
      cwd: rootDir,
      target: {
        kind: 'kubernetes',
        ...cluster(k),
        ...objects(k, service),
        // Validation lets through exactly one of manifests and kustomize.
        source: k.kustomize ? { kind: 'kustomize', path: resolve(rootDir, k.kustomize) } : { kind: 'manifests', path: resolve(rootDir, k.manifests!) },
        httpRoute: k.httpRoute ?? null,
        image: k.image ?? null,
        kubectl: k.kubectl ?? d.kubectl,
      },
    };
  }
  const h = t.helm;
  if (h) {
    const release = h.release ?? service;
    return {
      cwd: rootDir,
      target: {
        kind: 'helm',
        ...cluster(h),
        ...objects(h, release),
        release,
        chart: chartSource(h.chart, rootDir),
        chartVersion: h.chartVersion ?? null,
        values: (h.values ?? []).map(path),
        imageKeys: h.imageKeys ? { repository: h.imageKeys.repository, tag: h.imageKeys.tag } : { repository: null, tag: h.imageKey ?? DEFAULTS.helm.imageKey },
        setString: { ...h.setString },
        timeoutMs: parseDuration(h.timeout ?? DEFAULTS.helm.timeout),
        helm: h.helm ?? DEFAULTS.helm.binary,
        httpRoute: h.httpRoute ?? null,
        image: h.image ?? null,
      },
    };
  }
  const g = t.gitops;
  if (g) {
    const dg = DEFAULTS.gitops;
    const o = objects(g, service);
    return {
      cwd: rootDir,
      target: {
        kind: 'gitops',
        instances: o.instances,
        repo: isGitUrl(g.repo) ? g.repo : path(g.repo),
        remote: g.remote ?? null,
        branch: g.branch ?? dg.branch,
        file: g.file,
        key: g.key ?? dg.key,
        application: g.application ?? dg.application,
        argocd: { server: g.argocd.server.replace(/\/+$/, ''), tokenFromEnv: g.argocd.tokenFromEnv, insecure: g.argocd.insecure ?? false },
        syncTimeoutMs: parseDuration(g.syncTimeout ?? dg.syncTimeout),
        settleMs: parseDuration(g.settle ?? dg.settle),
        prune: g.prune ?? false,
        cluster: cluster(g),
        deployment: o.deployment,
        service: o.service,
        container: o.container,
        port: o.port,
        restartLimit: o.restartLimit,
        blueGreen: g.blueGreen ? {
          activeKey: g.blueGreen.activeKey,
          tagKeys: { blue: g.blueGreen.tagKeys.blue, green: g.blueGreen.tagKeys.green },
          previewKey: g.blueGreen.previewKey ?? null,
          deployments: g.blueGreen.deployments ? { ...g.blueGreen.deployments } : { blue: `${o.deployment}-blue`, green: `${o.deployment}-green` },
          previewService: g.blueGreen.previewService ?? `${o.service}-preview`,
        } : null,
        canary: g.canary ? {
          tagKey: g.canary.tagKey,
          replicasKey: g.canary.replicasKey,
          weightKey: g.canary.weightKey ?? null,
          stableWeightKey: g.canary.weightKey ? g.canary.stableWeightKey ?? null : null,
          deployment: g.canary.deployment ?? `${o.deployment}-canary`,
        } : null,
      },
    };
  }
  // Validation lets through exactly one target kind.
  const local = t.local!;
  const cwd = resolve(rootDir, local.cwd ?? '.');
  return {
    cwd,
    target: {
      kind: 'local',
      command: [...local.command],
      cwd,
      env: { ...local.env },
      instances: local.instances ?? DEFAULTS.instances,
      port: local.port,
      host: local.host ?? DEFAULTS.host,
      responseTimeoutMs: parseDuration(local.responseTimeout ?? DEFAULTS.responseTimeout),
    },
  };
}

function compileServiceEnv(service: string, environment: string, s: RawServiceSettings, ctx: ServiceContext): ServiceEnvConfig {
  const { target, cwd } = compileTarget(service, s.target, ctx.rootDir);
  return {
    service,
    environment,
    target,
    jobs: {
      beforeRollout: (s.jobs?.beforeRollout ?? []).map((j) => ({
        manifest: resolve(ctx.rootDir, j.manifest),
        timeoutMs: parseDuration(j.timeout ?? DEFAULTS.jobs.timeout),
      })),
    },
    health: compileHealth(s.health),
    strategy: compileStrategy(s.strategy),
    smoke: (s.smoke ?? []).map((check): SmokeCheck => {
      const timeoutMs = parseDuration(check.timeout ?? DEFAULTS.smoke.timeout);
      if (check.http) {
        return {
          kind: 'http',
          path: check.http.path,
          method: check.http.method ?? DEFAULTS.smoke.method,
          headers: { ...check.http.headers },
          expect: compileExpect(check.http.expect),
          timeoutMs,
        };
      }
      return { kind: 'run', argv: [...(check.run ?? [])], timeoutMs, cwd };
    }),
    rollback: {
      automatic: s.rollback?.automatic ?? DEFAULTS.rollback.automatic,
      watchMs: parseDuration(s.rollback?.watch ?? DEFAULTS.rollback.watch),
    },
    drainTimeoutMs: parseDuration(s.drainTimeout ?? DEFAULTS.drainTimeout),
    dependsOn: [...(s.dependsOn ?? [])],
    migrations: s.migrations ? compileMigrations(s.migrations, service, cwd, ctx) : null,
    analysis: s.analysis ?? null,
  };
}

function compileHealth(h: RawServiceSettings['health']): HealthConfig {
  const d = DEFAULTS.health;
  return {
    path: h?.path ?? d.path,
    expect: compileExpect(h?.expect),
    intervalMs: parseDuration(h?.interval ?? d.interval),
    timeoutMs: parseDuration(h?.timeout ?? d.timeout),
    failureThreshold: h?.failureThreshold ?? d.failureThreshold,
    startTimeoutMs: parseDuration(h?.startTimeout ?? d.startTimeout),
    pathSet: h?.path !== undefined,
  };
}

function compileExpect(e: { status?: number; json?: Record<string, unknown>; bodyContains?: string } | undefined, status: number = DEFAULTS.health.status): HttpExpect {
  const out: HttpExpect = { status: e?.status ?? status };
  if (e?.json) out.json = structuredClone(e.json);
  if (e?.bodyContains !== undefined) out.bodyContains = e.bodyContains;
  return out;
}

function compileStrategy(s: RawServiceSettings['strategy']): StrategyConfig {
  if (s?.canary) return compileCanary(s.canary);
  if (s?.blueGreen) {
    return {
      kind: 'blueGreen',
      previewPort: s.blueGreen.previewPort ?? null,
      scaleDownDelayMs: parseDuration(s.blueGreen.scaleDownDelay ?? DEFAULTS.scaleDownDelay),
    };
  }
  return {
    kind: 'rolling',
    maxSurge: s?.rolling?.maxSurge ?? DEFAULTS.rolling.maxSurge,
    maxUnavailable: s?.rolling?.maxUnavailable ?? DEFAULTS.rolling.maxUnavailable,
  };
}

type RawCanary = NonNullable<NonNullable<RawServiceSettings['strategy']>['canary']>;

function compileCanary(c: RawCanary): CanaryStrategy {
  const sticky = c.stickySessions;
  const d = DEFAULTS.canary.stickySessions;
  return {
    kind: 'canary',
    // The presets module owns the default steps; a copy keeps freezing this config from freezing them.
    steps: c.steps ? c.steps.map(compileCanaryStep) : structuredClone(DEFAULT_CANARY_STEPS),
    stickySessions: sticky === undefined || sticky === false
      ? null
      : {
        cookie: (sticky === true ? undefined : sticky.cookie) ?? d.cookie,
        ttlMs: parseDuration((sticky === true ? undefined : sticky.ttl) ?? d.ttl),
      },
    scaleDownDelayMs: parseDuration(c.scaleDownDelay ?? DEFAULTS.scaleDownDelay),
  };
}

function compileCanaryStep(step: NonNullable<RawCanary['steps']>[number]): CanaryStep {
  if (step.setWeight !== undefined) return { kind: 'setWeight', weight: step.setWeight };
  if (step.pause !== undefined) return { kind: 'pause', durationMs: typeof step.pause === 'string' ? parseDuration(step.pause) : null };
  if (step.analysis !== undefined) {
    return typeof step.analysis === 'string'
      ? { kind: 'analysis', template: step.analysis, durationMs: null }
      : { kind: 'analysis', template: step.analysis.template, durationMs: step.analysis.duration === undefined ? null : parseDuration(step.analysis.duration) };
  }
  const route = step.setHeaderRoute;
  // Header names are case-insensitive (RFC 9110); one spelling lets the proxy compare directly.
  return { kind: 'setHeaderRoute', header: route ? { name: route.name.toLowerCase(), value: route.value } : null };
}

/** The built-in presets, then the file's own templates in declaration order. */
function compileTemplates(raw: Record<string, RawAnalysisTemplate>): Record<string, AnalysisTemplate> {
  const out = lookup(Object.entries(structuredClone(PRESETS)));
  for (const [name, t] of Object.entries(raw)) {
    out[name] = {
      name,
      intervalMs: parseDuration(t.interval ?? DEFAULTS.analysis.interval),
      rules: t.rules.map(compileRule),
    };
  }
  return out;
}

type RawRule = RawAnalysisTemplate['rules'][number];

/** A preset's tiers (with the file's channels and actions), then the file's own tiers. */
function compileAlerts(raw: RawAlerts): AlertsConfig {
  const preset = raw.preset ? ALERT_TIER_PRESETS[raw.preset] ?? [] : [];
  const own = (name: string, map: Record<string, unknown> | undefined) => (map && Object.hasOwn(map, name) ? map[name] : undefined);
  const tiers: AlertTier[] = preset.map((t) => ({
    name: t.name,
    conditions: structuredClone(t.conditions),
    channels: [...(own(t.name, raw.channels) as string[] | undefined ?? [])],
    action: (own(t.name, raw.actions) as AlertAction | undefined) ?? t.action,
  }));
  for (const [name, t] of Object.entries(raw.tiers ?? {})) {
    tiers.push({
      name,
      conditions: t.conditions.map(({ for: hold, ...rule }) => {
        const compiled = compileRule(rule);
        // The tier keeps the hold; the rule reports each breach as it sees it.
        if (compiled.kind !== 'threshold') return { rule: compiled, forMs: hold === undefined ? 0 : parseDuration(hold) };
        return { rule: { ...compiled, forMs: 0 }, forMs: hold === undefined ? compiled.forMs : parseDuration(hold) };
      }),
      channels: [...(t.channels ?? [])],
      action: t.action ?? DEFAULTS.alerts.action,
    });
  }
  return { intervalMs: parseDuration(raw.interval ?? DEFAULTS.alerts.interval), tiers };
}

function compileRule(r: RawRule): AnalysisRule {
  const a = DEFAULTS.analysis;
  const base = {
    name: r.name,
    onInconclusive: compilePolicy(r.onInconclusive, a.onInconclusive),
    onError: compilePolicy(r.onError, a.onError),
  };
  if (r.threshold) {
    const t = r.threshold;
    return {
      ...base, kind: 'threshold', metric: compileSource(t.metric), max: t.max ?? null, min: t.min ?? null,
      forMs: parseDuration(t.for ?? a.for), windowMs: parseDuration(t.window ?? a.window), minSamples: t.minSamples ?? a.minSamples,
    };
  }
  if (r.relative) {
    const rel = r.relative;
    return {
      ...base, kind: 'relative', metric: compileSource(rel.metric), direction: rel.direction ?? defaultDirection(rel.metric),
      maxRatio: rel.maxRatio ?? null, maxIncrease: rel.maxIncrease ?? null, maxDecrease: rel.maxDecrease ?? null,
      windowMs: parseDuration(rel.window ?? a.window), minSamples: rel.minSamples ?? a.minSamples,
    };
  }
  if (r.healthFailures) return { ...base, kind: 'healthFailures', consecutive: r.healthFailures.consecutive };
  const j = r.judge ?? {};
  const metric = j.metric !== undefined ? compileSource(j.metric) : null;
  return {
    ...base, kind: 'judge', metric,
    errors: metric ? false : j.errors ?? a.judge.errors,
    latency: metric ? false : j.latency ?? a.judge.latency,
    alpha: j.alpha ?? a.judge.alpha,
    minSamples: j.minSamples ?? (metric ? a.judge.metricMinSamples : a.judge.minSamples),
    windowMs: parseDuration(j.window ?? a.judge.window),
    stepMs: parseDuration(j.step ?? a.judge.step),
    direction: j.direction ?? (metric ? 'either' : 'increase'),
    effectSize: compileEffectSize(j.effectSize, metric !== null, j.maxLatencyShift ?? a.judge.maxLatencyShift),
  };
}

/**
 * The judge's tolerance band. Latency keeps its median-shift guard (maxLatencyShift up,
 * its inverse down); a metric judge has no band unless one is written; an unwritten bound is
 * the measure's neutral value (1 for ratios, 0.5 for cles).
 */
function compileEffectSize(e: NonNullable<RawRule['judge']>['effectSize'], hasMetric: boolean, maxLatencyShift: number): EffectSize {
  if (e === undefined && !hasMetric) return { measure: 'medianShift', allowedIncrease: maxLatencyShift, allowedDecrease: 1 / maxLatencyShift };
  const measure = e?.measure ?? (hasMetric ? 'meanRatio' : 'medianShift');
  const neutral = measure === 'cles' ? 0.5 : 1;
  return { measure, allowedIncrease: e?.allowedIncrease ?? neutral, allowedDecrease: e?.allowedDecrease ?? neutral };
}

function compilePolicy(p: RawRule['onError'], fallback: { readonly action: VerdictPolicy['action']; readonly limit: number }): VerdictPolicy {
  if (p === undefined) return { action: fallback.action, limit: fallback.limit };
  if (typeof p === 'object') return { action: 'tolerate', limit: p.tolerate };
  return { action: p, limit: p === 'tolerate' ? DEFAULTS.analysis.tolerateLimit : 0 };
}

function compileSource(m: RawMetricSource): MetricSource {
  if (m.builtin !== undefined) return { kind: 'builtin', metric: m.builtin };
  if (m.prometheus !== undefined) return { kind: 'prometheus', query: typeof m.prometheus === 'string' ? m.prometheus : m.prometheus.query };
  // Validation lets through exactly one source, so here it is `web`.
  const web = m.web as NonNullable<RawMetricSource['web']>;
  return {
    kind: 'web', url: web.url, field: web.field, headers: { ...web.headers },
    timeoutMs: parseDuration(web.timeout ?? DEFAULTS.metrics.web.timeout),
  };
}

/**
 * A record looked up by names from outside: without a prototype, so only its own keys are found.
 *
 * @example
 * lookup<number>([['web', 1]]).constructor; // undefined
 */
export function lookup<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // Own keys only: a key named like an Object method (`constructor`) merges like any other.
    const merged = deepMerge(Object.hasOwn(base, k) ? base[k] : undefined, v);
    Object.defineProperty(out, k, { value: merged, writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/**
 * Mappings that take exactly one of some keys. An override naming one of them drops the
 * others it does not name, since merging `rolling` into `blueGreen` (or `url` into
 * `urlFromEnv`) would name two.
 */
const EXCLUSIVE_KEYS: ReadonlyArray<{ path: readonly string[]; keys: readonly string[] }> = [
  { path: ['strategy'], keys: ['rolling', 'blueGreen', 'canary'] },
  { path: ['target'], keys: TARGET_KINDS },
  { path: ['target', 'helm'], keys: ['imageKey', 'imageKeys'] },
  { path: ['target', 'kubernetes'], keys: ['manifests', 'kustomize'] },
  { path: ['migrations', 'backup'], keys: ['pgDump', 'run'] },
  { path: ['migrations', 'backup', 'pgDump'], keys: ['url', 'urlFromEnv'] },
  { path: ['migrations', 'validate'], keys: ['run', 'sql'] },
  { path: ['migrations', 'validate', 'sql'], keys: ['url', 'urlFromEnv'] },
];

function at(value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, key) => (isPlainObject(v) && Object.hasOwn(v, key) ? v[key] : undefined), value);
}

/**
 * A service's settings with one environment's overrides merged in: mappings merge key by key,
 * lists and scalars (and null) replace. A strategy of another kind replaces the service's
 * strategy, and so does a backup, validation or connection of another kind in migrations.
 *
 * @example
 * mergeOverride({ target: { local: { command: ['node', 'app.js'], port: 8080 } } }, { target: { local: { port: 9080 } } });
 * // { target: { local: { command: ['node', 'app.js'], port: 9080 } } }
 */
export function mergeOverride(base: RawServiceSettings, override: unknown): RawServiceSettings {
  if (!isPlainObject(override)) return base;
  const merged = deepMerge(base, override) as RawServiceSettings;
  for (const { path, keys } of EXCLUSIVE_KEYS) {
    const over = at(override, path);
    const mine = at(merged, path);
    if (!isPlainObject(over) || !isPlainObject(mine) || !keys.some((k) => over[k] !== undefined)) continue;
    const kept = Object.fromEntries(Object.entries(mine).filter(([k]) => !keys.includes(k) || over[k] !== undefined));
    if (Object.keys(kept).length === Object.keys(mine).length) continue;
    // deepMerge copied every mapping on this path, so the parent is the merge's own object.
    (at(merged, path.slice(0, -1)) as Record<string, unknown>)[path[path.length - 1]] = kept;
  }
  return merged;
}

/** Freezes an object and everything reachable from it, so compiled config cannot drift at run time. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * A chart given as a folder (it exists relative to the folder of gangway.yaml, or is written as
 * a path) becomes its absolute path; anything else is a chart reference helm resolves itself
 * (`repo/chart`, `oci://…`), as `helm upgrade` tries a local folder first.
 */
function chartSource(chart: string, rootDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(chart)) return chart;
  const local = resolve(rootDir, chart);
  return chart.startsWith('.') || chart.startsWith('/') || chart.startsWith('~') || existsSync(local) ? resolve(rootDir, chart.replace(/^~(?=\/|$)/, homedir())) : chart;
}

/** Whether a repository is given as a URL (`scheme://…` or scp-like `user@host:path`) rather than a folder. */
function isGitUrl(repo: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/@\s]+@[^/:\s]+:/.test(repo);
}
