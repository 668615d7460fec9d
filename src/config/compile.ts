/**
 * `RawConfig` (validated, as written) → `GangwayConfig` (complete, frozen). Every default is
 * applied here and nowhere else; relative paths are resolved against the config file's folder.
 */
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_CANARY_STEPS, PRESETS } from '../analysis/presets.js';
import { GangwayError } from '../errors.js';
import type {
  AnalysisRule, AnalysisTemplate, CanaryStep, CanaryStrategy, CustomCheck, EnvironmentConfig, GangwayConfig, HealthConfig, HttpExpect,
  MetricSource, RegistryConfig, ServiceEnvConfig, SmokeCheck, StrategyConfig, VerdictPolicy, WindowRange,
} from './types.js';
import { parseDuration } from './duration.js';
import { readPublicKey } from './keys.js';
import { DEFAULTS } from './schema.js';
import type { RawAnalysisTemplate, RawConfig, RawEnvironment, RawMetricSource, RawServiceSettings } from './schema.js';

/** Inputs of {@link compileConfig} besides the file's content. */
export interface CompileOptions {
  /** Path of the config file; its folder is the project's root. */
  file: string;
  /** Where `store.postgres.urlFromEnv` and the registries' `passwordFromEnv` / `tokenFromEnv` are looked up. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Applies every default, merges each environment's overrides into each service, resolves paths
 * and freezes the result. Expects input that passed validation (see `parseConfig`).
 *
 * @example
 * const config = compileConfig(configSchema.parse(data), { file: '/srv/shop/gangway.yaml' });
 * config.services.web.prod.target.port; // 9080
 * @throws GangwayError (`invalid_config`) when `store.postgres.urlFromEnv` or a registry's
 *   `passwordFromEnv` / `tokenFromEnv` names an unset variable, or a signature key cannot be read.
 */
export function compileConfig(raw: RawConfig, options: CompileOptions): GangwayConfig {
  const file = resolve(options.file);
  const rootDir = dirname(file);
  const stateDir = resolve(rootDir, raw.stateDir ?? DEFAULTS.stateDir);
  const env = options.env ?? process.env;
  const environments = Object.entries(raw.environments).map(([name, e]) => compileEnvironment(name, e, rootDir));
  const serviceNames = Object.keys(raw.services);

  const services: Record<string, Record<string, ServiceEnvConfig>> = {};
  for (const [service, definition] of Object.entries(raw.services)) {
    const { environments: overrides, ...base } = definition;
    services[service] = {};
    for (const { name: environment } of environments) {
      const settings = mergeOverride(base, overrides?.[environment]);
      services[service][environment] = compileServiceEnv(service, environment, settings, rootDir);
    }
  }

  return deepFreeze({
    project: raw.project,
    file,
    rootDir,
    stateDir,
    server: { host: raw.server?.host ?? DEFAULTS.server.host, port: raw.server?.port ?? DEFAULTS.server.port },
    agent: { metricsPort: raw.agent?.metricsPort ?? DEFAULTS.agent.metricsPort, host: raw.agent?.host ?? DEFAULTS.agent.host },
    store: compileStore(raw, rootDir, stateDir, env),
    environments,
    serviceNames,
    services,
    analysisTemplates: compileTemplates(raw.analysis ?? {}),
    groups: Object.fromEntries(Object.entries(raw.groups ?? {}).map(([name, members]) => [name, [...members]])),
    registries: (raw.registries ?? []).map((r, i) => compileRegistry(r, i, env)),
    incidents: raw.incidents
      ? { label: raw.incidents.label ?? DEFAULTS.incidents.label, value: raw.incidents.value ?? DEFAULTS.incidents.value }
      : null,
    metrics: {
      prometheus: raw.metrics?.prometheus
        ? {
          // The provider appends API paths; a trailing slash would double up.
          address: raw.metrics.prometheus.address.replace(/\/+$/, ''),
          timeoutMs: parseDuration(raw.metrics.prometheus.timeout ?? DEFAULTS.metrics.prometheus.timeout),
        }
        : null,
    },
  });
}

function compileStore(raw: RawConfig, rootDir: string, stateDir: string, env: Readonly<Record<string, string | undefined>>): GangwayConfig['store'] {
  const pg = raw.store?.postgres;
  if (pg) {
    if (pg.url !== undefined) return { kind: 'postgres', url: pg.url };
    const url = env[pg.urlFromEnv ?? ''];
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

function compileRegistry(r: NonNullable<RawConfig['registries']>[number], index: number, env: Readonly<Record<string, string | undefined>>): RegistryConfig {
  const secret = (variable: string | undefined, key: string): string | null => {
    if (variable === undefined) return null;
    const value = env[variable];
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

function compileEnvironment(name: string, env: RawEnvironment, rootDir: string): EnvironmentConfig {
  const out: EnvironmentConfig = {
    name,
    reason: env.reason ?? DEFAULTS.reason,
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

function compileServiceEnv(service: string, environment: string, s: RawServiceSettings, rootDir: string): ServiceEnvConfig {
  const local = s.target.local;
  const cwd = resolve(rootDir, local.cwd ?? '.');
  return {
    service,
    environment,
    target: {
      kind: 'local',
      command: [...local.command],
      cwd,
      env: { ...local.env },
      instances: local.instances ?? DEFAULTS.instances,
      port: local.port,
      host: local.host ?? DEFAULTS.host,
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
      previewPort: s.blueGreen.previewPort,
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
  const out: Record<string, AnalysisTemplate> = structuredClone(PRESETS);
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
      ...base, kind: 'relative', metric: compileSource(rel.metric), maxRatio: rel.maxRatio ?? null, maxIncrease: rel.maxIncrease ?? null,
      windowMs: parseDuration(rel.window ?? a.window), minSamples: rel.minSamples ?? a.minSamples,
    };
  }
  if (r.healthFailures) return { ...base, kind: 'healthFailures', consecutive: r.healthFailures.consecutive };
  const j = r.judge ?? {};
  return {
    ...base, kind: 'judge',
    errors: j.errors ?? a.judge.errors,
    latency: j.latency ?? a.judge.latency,
    alpha: j.alpha ?? a.judge.alpha,
    minSamples: j.minSamples ?? a.judge.minSamples,
    windowMs: parseDuration(j.window ?? a.judge.window),
    maxLatencyShift: j.maxLatencyShift ?? a.judge.maxLatencyShift,
  };
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

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/**
 * A service's settings with one environment's overrides merged in: mappings merge key by key,
 * lists and scalars replace. A strategy of another kind replaces the service's strategy, since
 * merging `rolling` into `blueGreen` would name two strategies.
 *
 * @example
 * mergeOverride({ target: { local: { command: ['node', 'app.js'], port: 8080 } } }, { target: { local: { port: 9080 } } });
 * // { target: { local: { command: ['node', 'app.js'], port: 9080 } } }
 */
export function mergeOverride(base: RawServiceSettings, override: unknown): RawServiceSettings {
  if (!isPlainObject(override)) return base;
  const merged = deepMerge(base, override) as RawServiceSettings;
  const overStrategy = override.strategy;
  if (isPlainObject(overStrategy) && base.strategy) {
    const sameKind = Object.keys(overStrategy).every((k) => (base.strategy as Record<string, unknown>)[k] !== undefined);
    if (!sameKind) merged.strategy = overStrategy as RawServiceSettings['strategy'];
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
