/**
 * The zod schema of `gangway.yaml`: the one source for validation, for the JSON Schema editors
 * use, and (through its descriptions) for the help editors show on hover.
 *
 * The schema checks each value where it stands. Checks that need the whole file (promotion
 * order, dependencies, ports across services, overrides merged) live in load.ts; defaults are
 * applied once, in compile.ts, from {@link DEFAULTS}.
 * Every object is strict: an unknown key is a problem, never silently ignored.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { trustEntryProblem } from '../agent/forwarded.js';
import type { BuiltinMetric, GateName, NotifyEvent } from './types.js';
import { DURATION_HINT, DURATION_PATTERN, durationMs, parseDuration } from './duration.js';
import { MAX_ENVIRONMENTS, MAX_SERVICES, MAX_WINDOWS } from './limits.js';
import { CHECK_PLACEHOLDER_NAMES, METRIC_PLACEHOLDER_NAMES, PLACEHOLDER_NAMES, placeholderNames } from './placeholders.js';
import { backquote, describeValue, didYouMean, quote, reserveKeys, withHint } from './problems.js';

/** Every default of the file format, in one place; compile.ts applies them and the docs quote them. */
export const DEFAULTS = {
  stateDir: '.gangway',
  server: { host: '127.0.0.1', port: 7400 },
  agent: { host: '127.0.0.1', metricsPort: 7401, forwardedHeaders: true, trustForwarded: [] },
  sqlitePath: '.gangway/state.db',
  reason: 'optional',
  queue: 'supersede',
  /** `environments.<name>.releases.onFailure`: a release group rolls back what it shipped when a member fails. */
  releaseOnFailure: 'rollback',
  allowSelfApproval: false,
  /** How long an approval counts: `null` is for as long as the deployment waits. */
  approvalExpires: null,
  timezone: 'UTC',
  days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  instances: 1,
  host: '127.0.0.1',
  responseTimeout: '30s',
  health: { path: '/', status: 200, interval: '2s', timeout: '1s', failureThreshold: 3, startTimeout: '30s' },
  rolling: { maxSurge: 1, maxUnavailable: 0 },
  scaleDownDelay: '30s',
  smoke: { method: 'GET', status: 200, timeout: '30s' },
  rollback: { automatic: true, watch: '5m' },
  drainTimeout: '30s',
  kubernetes: { restartLimit: 0, kubectl: 'kubectl', requestTimeout: '30s' },
  helm: { binary: 'helm', imageKey: 'image.tag', timeout: '5m' },
  gitops: { branch: 'main', key: 'image.tag', application: '{service}-{environment}', syncTimeout: '5m', settle: '10s' },
  jobs: { timeout: '5m' },
  canary: { stickySessions: { cookie: 'gangway-release', ttl: '1h' } },
  analysis: {
    interval: '30s',
    /** Trailing window each threshold and relative measurement covers. */
    window: '1m',
    /** How long a threshold must be breached before the rule fails: at the first breach. */
    for: '0s',
    minSamples: 0,
    judge: { errors: true, latency: true, alpha: 0.01, minSamples: 200, window: '5m', maxLatencyShift: 1.5, step: '30s', metricMinSamples: 10 },
    onInconclusive: { action: 'tolerate', limit: 10 },
    onError: { action: 'pause', limit: 0 },
    /** What `tolerate` without a number lets pass. */
    tolerateLimit: 10,
  },
  metrics: {
    prometheus: { timeout: '5s' },
    web: { timeout: '5s' },
    /** The seeds' http_requests_total / http_request_duration_seconds shape, labelled by the pods' gangway.io labels after a labelmap relabelling. */
    requests: {
      total: 'sum by (gangway_io_release) (http_requests_total{gangway_io_service="${service}",gangway_io_environment="${environment}"})',
      errors: 'sum by (gangway_io_release) (http_requests_total{gangway_io_service="${service}",gangway_io_environment="${environment}",status=~"5.."})',
      buckets: 'sum by (gangway_io_release, le) (http_request_duration_seconds_bucket{gangway_io_service="${service}",gangway_io_environment="${environment}"})',
      versionLabel: 'gangway_io_release',
    },
  },
  checks: { timeout: '2m', method: 'GET', status: 200 },
  /** What `image: {}` checks: that the image exists (a tag resolved to a digest); no signature. */
  image: { exists: true },
  expedited: { skip: [] },
  /** `environments.<name>.autoDeploy`: newest tag by semver, registry asked every minute. */
  autoDeploy: { order: 'semver', interval: '1m' },
  registry: { insecure: false },
  /** What `incidents: {}` listens for: firing alerts labelled gangway_freeze="true". */
  incidents: { label: 'gangway_freeze', value: 'true' },
  /** `alerts`: how often tiers are measured, and what a tier without `action` does. */
  alerts: { interval: '10s', action: 'none' },
  records: {
    path: 'docs/deployments/{environment}',
    author: { name: 'Gangway', email: 'gangway@localhost' },
    pushRetries: 3,
  },
  /** `events` absent: every event, in the order of NOTIFY_EVENTS. */
  notifications: { timeout: '5s', retries: 3, githubApiUrl: 'https://api.github.com' },
  migrations: {
    timeout: '10m',
    /** Where pg_dump backups go when `dir` is absent: this folder under stateDir. */
    backupDir: 'backups',
  },
} as const;

/** Every gate, in the order a deployment meets them; `expedited.skip` names them. */
export const GATE_NAMES = [
  'promotion', 'reason', 'window', 'freeze', 'approvals', 'image', 'signature', 'checks', 'checklist', 'rejected',
] as const satisfies readonly GateName[];

/** Gates `expedited.skip` may name: all but `reason`, which an expedited deployment always needs. */
export const SKIPPABLE_GATES = GATE_NAMES.filter((g): g is Exclude<GateName, 'reason'> => g !== 'reason');

// A gate added to GateName and not to GATE_NAMES fails to compile here.
type MissingGate = Exclude<GateName, (typeof GATE_NAMES)[number]>;
const allGatesListed: [MissingGate] extends [never] ? true : MissingGate = true;
void allGatesListed;

/** Every deployment outcome a notifier can be told about, in the order a deployment meets them. */
export const NOTIFY_EVENTS = ['started', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded'] as const satisfies readonly NotifyEvent[];

type MissingEvent = Exclude<NotifyEvent, (typeof NOTIFY_EVENTS)[number]>;
const allEventsListed: [MissingEvent] extends [never] ? true : MissingEvent = true;
void allEventsListed;

/** Placeholders `records.path` may hold, written `{name}`. */
export const RECORDS_PATH_PLACEHOLDERS = ['environment', 'service'] as const;
/** Placeholders of `metrics.requests` queries: per service and environment, all releases at once. */
export const REQUEST_QUERY_PLACEHOLDERS = ['service', 'environment'] as const;

/** Day names accepted in windows, Monday first. */
export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** Metrics the agent measures for every release it serves; rules name them as `builtin`. */
export const BUILTIN_METRICS = ['error_rate', 'request_rate', 'p50_latency', 'p95_latency', 'p99_latency'] as const satisfies readonly BuiltinMetric[];

const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
/** RFC 9110 token: what a header or cookie name may hold. */
const TOKEN_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

// ---------------------------------------------------------------------------------------------
// Building blocks

function nameKey(what: string) {
  return z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid ${what} name`,
      'use lowercase letters, digits and dashes, starting with a letter (e.g. `prod`, `web-api`)'),
  });
}

function port(description: string) {
  const range = (iss: { input?: unknown }) => `must be a port number from 1 to 65535, got ${String(iss.input)}`;
  return z.int().min(1, { error: range }).max(65535, { error: range }).describe(description);
}

/**
 * Refuses a duration longer than `max` (a duration itself, such as "1h"); every duration key has
 * one, well below the 2^31 − 1 ms a timer can wait. Text that is not a duration is left to the pattern.
 */
function durationAtMost<T extends string>(max: string, options: { positive?: boolean } = {}) {
  const maxMs = parseDuration(max);
  return (value: T, ctx: z.core.$RefinementCtx<T>): void => {
    const ms = durationMs(value);
    if (Number.isNaN(ms)) return;
    if (options.positive && ms === 0) {
      ctx.addIssue({ code: 'custom', input: value, message: withHint('must be longer than 0', DURATION_HINT) });
    } else if (!(ms <= maxMs)) {
      ctx.addIssue({ code: 'custom', input: value, message: withHint(`must be at most ${max}, got ${quote(value)}`, `write a duration of at most ${max} (see docs/config.md#durations)`) });
    }
  };
}

function duration(description: string, options: { positive?: boolean; max: string }) {
  return z.string({
    error: (iss) => {
      if (iss.input === undefined) return undefined;
      const hint = typeof iss.input === 'number' ? `write a duration string such as "${iss.input}s"` : DURATION_HINT;
      return withHint(`expected a duration, got ${describeValue(iss.input)}`, hint);
    },
  }).regex(new RegExp(DURATION_PATTERN), { error: (iss) => withHint(`${quote(iss.input)} is not a duration`, DURATION_HINT) })
    .superRefine(durationAtMost(options.max, options))
    .describe(`${description} At most ${options.max}.`);
}

/**
 * A string that may hold `${…}` placeholders out of `known`; unknown names are problems with a
 * did-you-mean. Metric queries are filled in by the metric providers, which know no `$${…}`
 * escape, so there it is refused rather than left to fail at the first measurement.
 */
function placeholderStringOf(known: readonly string[], options: { escape: boolean } = { escape: true }) {
  return z.string().superRefine((value, ctx) => {
    if (!options.escape && value.includes('$${')) {
      ctx.addIssue({
        code: 'custom', input: value,
        message: withHint('$${…} has no meaning here', `a metric query knows only ${known.map((n) => `\${${n}}`).join(', ')}`),
      });
    }
    for (const name of placeholderNames([value])) {
      if (known.includes(name)) continue;
      const guess = didYouMean(name, known);
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: withHint(`unknown placeholder \${${name}}`, guess
          ? `did you mean \${${guess}}?`
          : `known placeholders: ${known.map((n) => `\${${n}}`).join(', ')}${options.escape ? '; write $${…} for a literal ${…}' : ''}`),
      });
    }
  });
}

/** A string that may hold the placeholders of commands, env values and smoke runs. */
const placeholderString = placeholderStringOf(PLACEHOLDER_NAMES);

function argv(what: string, description: string, known: readonly string[] = PLACEHOLDER_NAMES) {
  return z.array(known === PLACEHOLDER_NAMES ? placeholderString : placeholderStringOf(known), {
    error: (iss) => typeof iss.input === 'string'
      ? withHint('expected a list of arguments, got a string',
        `write it as a list, e.g. [${iss.input.trim().split(/\s+/).map((a) => JSON.stringify(a)).join(', ')}]; it is never run through a shell`)
      : undefined,
  }).refine((a) => a.length > 0 && a[0] !== '', {
    error: withHint(`${what} is empty`, 'give the program and its arguments, e.g. ["node", "server.js"]'),
  }).describe(description);
}

/** The keys under `target:`, one per target kind. */
export const TARGET_KINDS = ['local', 'kubernetes', 'helm', 'gitops'] as const;

/** Adds the "exactly one of these keys" rule that strategy, target, store, windows and smoke checks share. */
function exactlyOne<T extends Record<string, unknown>>(what: string, keys: readonly string[], noneHint?: string) {
  return (value: T, ctx: z.core.$RefinementCtx<T>) => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length === 1) return;
    ctx.addIssue({
      code: 'custom',
      input: value,
      // "names none of them" says nothing new next to an unknown key in the same object (`canary`, a typo).
      params: present.length === 0 ? { unlessUnknownKeys: true } : undefined,
      message: present.length === 0
        ? withHint(`${what} must name one of ${keys.join(', ')}`, noneHint ?? `choose exactly one of ${keys.join(', ')}`)
        : withHint(`${what} has both ${present.join(' and ')}`, `choose exactly one of ${keys.join(', ')}`),
    });
  };
}

/**
 * Refuses a second item with the same `name` in a list, pointing at the second one.
 * `scope` completes "… names are unique within <scope>".
 */
function uniqueNames(what: string, list: string, scope: string) {
  return <T extends { name: string }>(items: readonly T[], ctx: z.core.$RefinementCtx<readonly T[]>): void => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first === undefined) {
        seen.set(item.name, i);
        return;
      }
      ctx.addIssue({
        code: 'custom', input: item.name, path: [i, 'name'],
        message: withHint(`duplicate ${what} name \`${item.name}\``, `${list}[${first}] is already named \`${item.name}\`; ${what} names are unique within ${scope}`),
      });
    });
  };
}

/**
 * Refuses a mapping with more than `max` keys: each service is compiled for each environment,
 * so their numbers multiply.
 */
function atMostKeys(what: string, max: number) {
  return <T extends Record<string, unknown>>(value: T, ctx: z.core.$RefinementCtx<T>): void => {
    const count = Object.keys(value).length;
    if (count <= max) return;
    ctx.addIssue({
      code: 'custom', input: value,
      message: withHint(`${count} ${what} declared; a file may declare at most ${max}`, 'split the project into several files, one per group of services, each run by its own gangway'),
    });
  };
}

/** Refuses a value listed twice, pointing at the second one. */
function noRepeats(what: string) {
  return (items: readonly string[], ctx: z.core.$RefinementCtx<readonly string[]>): void => {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (!seen.has(item)) {
        seen.add(item);
        return;
      }
      ctx.addIssue({
        code: 'custom', input: item, path: [i],
        message: withHint(`${backquote(item)} is listed twice`, `list each ${what} once`),
      });
    });
  };
}

/** The name of an environment variable, for the `…FromEnv` keys. */
function envVarName(description: string) {
  return z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid environment variable name`, 'use letters, digits and underscores, not starting with a digit, e.g. REGISTRY_PASSWORD'),
  }).describe(description);
}

const httpExpect = z.strictObject({
  status: z.int().min(100).max(599).optional().describe(`HTTP status code expected. Default ${DEFAULTS.health.status}.`),
  json: z.record(z.string(), z.unknown()).optional()
    .describe('JSON body fields that must match exactly: dotted field paths (e.g. `status` or `checks.db`) mapped to the expected value.'),
  bodyContains: z.string().optional().describe('A substring the response body must contain.'),
}).describe('What a passing response looks like.');

/** Characters a request line cannot carry as they are: spaces and control characters (a line break would end it). */
const NOT_IN_REQUEST_LINE = /[\s\x00-\x1f\x7f]/g;

function urlPath(what: string) {
  return z.string().superRefine((path, ctx) => {
    if (!path.startsWith('/')) {
      ctx.addIssue({ code: 'custom', input: path, message: withHint(`${what} must start with "/", got ${quote(path)}`, `write ${quote(`/${path.replace(/^\/*/, '')}`)}`) });
      return;
    }
    if (path.search(NOT_IN_REQUEST_LINE) < 0) return;
    const encoded = path.replace(NOT_IN_REQUEST_LINE, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    ctx.addIssue({
      code: 'custom', input: path,
      message: withHint(`${what} must not hold spaces, line breaks or other control characters, got ${quote(path)}`, `percent-encode them: ${quote(encoded)}`),
    });
  });
}

/** Request headers: names are HTTP tokens, values one line of text. */
function httpHeaders() {
  return z.record(tokenName('header', 'X-Check'), headerValue());
}

function headerValue() {
  // RFC 9110 field values: visible characters, spaces and tabs; a line break would start another header.
  return z.string().refine((v) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(v), {
    error: (iss) => withHint(`a header value must not hold line breaks or other control characters, got ${quote(iss.input)}`, 'write the value on one line, without control characters'),
  });
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** An address to listen on: a host name or an IP address, never a URL or host:port. */
function listenHost(description: string, portKey: string) {
  return z.string().min(1).superRefine((host, ctx) => {
    if (isIP(host) !== 0 || HOST_NAME.test(host)) return;
    const bare = host.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '').replace(/[/?#].*$/, '');
    const withoutPort = /^\[[0-9A-Fa-f:.]+\](?::\d*)?$/.test(bare) ? bare.replace(/^\[([^\]]*)\].*$/, '$1') : bare.replace(/:\d*$/, '');
    const fixed = isIP(withoutPort) !== 0 || HOST_NAME.test(withoutPort) ? withoutPort : undefined;
    const portGiven = withoutPort !== bare && /:\d+$/.test(bare);
    ctx.addIssue({
      code: 'custom', input: host,
      message: withHint(`${quote(host)} is not a host name or IP address`, fixed === undefined
        ? 'give a host name or an IP address, e.g. "127.0.0.1", "0.0.0.0" or "localhost"'
        : `write ${quote(fixed)}${host !== bare ? ' (no scheme or path: this is an address to listen on, not a URL)' : ''}${portGiven ? `, and set the port in ${portKey}` : ''}`),
    });
  }).describe(description);
}

/** An `http://` or `https://` URL; `placeholders` are allowed inside it when given. */
function httpUrl(what: string, example: string, placeholders?: readonly string[]) {
  const base = placeholders ? placeholderStringOf(placeholders, { escape: false }) : z.string();
  return base.refine((value) => {
    try {
      return ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, { error: (iss) => withHint(`${what} must be an http:// or https:// URL, got ${quote(iss.input)}`, `e.g. "${example}"`) });
}

function tokenName(what: string, example: string) {
  return z.string().regex(TOKEN_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid ${what} name`, `use letters, digits and dashes, e.g. ${example}`),
  });
}

/** Gate keys belong to environments; written elsewhere they get a pointer there instead of "unknown key". */
const GATE_KEYS_ELSEWHERE: Record<string, { message: string; hint: string }> = Object.fromEntries(
  ['image', 'checks', 'checklist', 'approvals', 'windows'].map((key) => [key, {
    message: `${key} is set per environment`,
    hint: `put it under the top-level environments.<name>.${key}`,
  }]),
);

/** `records` and `notifications` belong to the whole project; written elsewhere they get a pointer to the top level. */
const PROJECT_KEYS_ELSEWHERE: Record<string, { message: string; hint: string }> = {
  records: { message: 'records is set once, at the top level', hint: 'move it to the top level of the file; records.path may hold {environment} and {service}' },
  notifications: { message: 'notifications are set once, at the top level', hint: 'move them to the top level of the file; each notifier\'s events say what it is told' },
};

/** Migrations belong to a service; written elsewhere they get a pointer there. */
const MIGRATIONS_ELSEWHERE: Record<string, { message: string; hint: string }> = {
  migrations: { message: 'migrations are set per service', hint: 'put them under services.<name>.migrations (an environment\'s overrides may change or turn them off)' },
};

/** A postgres:// URL written in the file; one holding a password belongs in an environment variable. */
function postgresUrl(description: string) {
  // The value is never echoed: a database URL may hold a password.
  return z.string().superRefine((url, ctx) => {
    if (!/^postgres(?:ql)?:\/\//.test(url)) {
      ctx.addIssue({ code: 'custom', input: url, message: withHint('must be a postgres:// URL', 'e.g. "postgres://app@127.0.0.1:5432/shop"; prefer urlFromEnv to keep the password out of the file') });
      return;
    }
    let password = '';
    try {
      password = new URL(url).password;
    } catch {
      ctx.addIssue({ code: 'custom', input: url, message: withHint('must be a postgres:// URL', 'e.g. "postgres://app@127.0.0.1:5432/shop"') });
      return;
    }
    if (password !== '') {
      ctx.addIssue({
        code: 'custom', input: url,
        message: withHint('the URL holds a password', 'secrets stay out of the file: put the URL in an environment variable and give urlFromEnv (e.g. DATABASE_URL)'),
      });
    }
  }).describe(description);
}

// ---------------------------------------------------------------------------------------------
// Canary

const PROMOTE_HINT = 'or {} to wait for `gangway promote`';

const pauseStep = z.union([
  z.string().regex(new RegExp(DURATION_PATTERN), {
    error: (iss) => withHint(`${quote(iss.input)} is not a duration`, `write a duration such as "2m", ${PROMOTE_HINT}`),
  }).superRefine(durationAtMost('168h')),
  reserveKeys(z.strictObject({}), {
    '*': { message: 'pause takes no keys', hint: `write a duration such as "2m", ${PROMOTE_HINT}` },
  }),
], {
  error: (iss) => withHint(`pause must be a duration or {}, got ${describeValue(iss.input)}`,
    typeof iss.input === 'number' ? `write "${iss.input}s", ${PROMOTE_HINT}` : `write a duration such as "2m", ${PROMOTE_HINT}`),
}).describe('Wait this long (a duration, at most 168h), or until `gangway promote` ({}).');

const templateName = z.string().min(1).describe('Name of an analysis template: one under `analysis`, or a built-in preset such as runbook-defaults.');

const analysisStep = z.union([
  templateName,
  z.strictObject({
    template: templateName,
    duration: duration('How long the analysis runs. Default: until its rules have passed, or failed.', { positive: true, max: '24h' }).optional(),
  }),
], {
  error: (iss) => withHint(`analysis must be a template name or { template, duration }, got ${describeValue(iss.input)}`,
    'e.g. `analysis: runbook-defaults` or `analysis: { template: runbook-defaults, duration: 2m }`'),
}).describe('Run an analysis template against the canary before the next step; a failing verdict rolls back.');

const canaryStep = z.strictObject({
  setWeight: z.int().min(0, { error: weightRange }).max(100, { error: weightRange }).optional()
    .describe('Send this percentage (0–100) of requests to the new release.'),
  setHeaderRoute: z.strictObject({
    name: tokenName('header', 'x-canary').describe('Request header name (matched without regard to case).'),
    value: headerValue().describe('The exact value that routes a request to the new release.'),
  }).nullable().optional()
    .describe('Requests carrying this header with exactly this value always reach the new release (testers, smoke checks); null removes the route.'),
  analysis: analysisStep.optional(),
  pause: pauseStep.optional(),
}).superRefine(exactlyOne('a canary step', ['setWeight', 'setHeaderRoute', 'analysis', 'pause']))
  .describe('One canary step: exactly one of setWeight, setHeaderRoute, analysis, pause.');

function weightRange(iss: { input?: unknown }): string {
  return `setWeight must be a percentage from 0 to 100, got ${String(iss.input)}`;
}

/** Empty lists and steps that can never matter are mistakes worth stopping a deployment for. */
function checkCanarySteps(steps: ReadonlyArray<{ setWeight?: number }>, ctx: z.core.$RefinementCtx<ReadonlyArray<{ setWeight?: number }>>): void {
  if (steps.length === 0) {
    ctx.addIssue({
      code: 'custom', input: steps,
      message: withHint('a canary needs at least one step', 'write `canary: {}` for the default steps, or list steps such as `- setWeight: 10`'),
    });
    return;
  }
  const full = steps.findIndex((step) => step.setWeight === 100);
  if (full < 0 || full === steps.length - 1) return;
  const after = full + 1 === steps.length - 1 ? `steps[${full + 1}]` : `steps[${full + 1}] to steps[${steps.length - 1}]`;
  ctx.addIssue({
    code: 'custom', input: steps[full + 1], path: [full + 1],
    message: withHint('steps after 100% do nothing', `remove ${after}, or lower the weight of steps[${full}]`),
  });
}

const stickySessions = z.union([
  z.boolean(),
  z.strictObject({
    cookie: tokenName('cookie', DEFAULTS.canary.stickySessions.cookie).optional()
      .describe(`Name of the cookie that remembers the release. Default ${DEFAULTS.canary.stickySessions.cookie}.`),
    ttl: duration(`How long the cookie lasts. Default ${DEFAULTS.canary.stickySessions.ttl}.`, { positive: true, max: '168h' }).optional(),
  }),
], {
  error: (iss) => withHint(`stickySessions must be true, false or { cookie, ttl }, got ${describeValue(iss.input)}`,
    `\`true\` uses the cookie ${DEFAULTS.canary.stickySessions.cookie} for ${DEFAULTS.canary.stickySessions.ttl}`),
}).describe(`Keep each user on the release they first reached, with a cookie: true (cookie ${DEFAULTS.canary.stickySessions.cookie}, ttl ${DEFAULTS.canary.stickySessions.ttl}) or { cookie, ttl }. Default off.`);

const canary = z.strictObject({
  steps: z.array(canaryStep).superRefine(checkCanarySteps).optional()
    .describe('The steps, in order. Default (`canary: {}`): Gangway\'s runbook steps. A canary that never reaches 100% is shifted to 100% after its last step. An override replaces the whole list.'),
  stickySessions: stickySessions.optional(),
  scaleDownDelay: duration(`How long the previous release keeps running after the deployment ends, for an instant rollback. Default ${DEFAULTS.scaleDownDelay}.`, { max: '24h' }).optional(),
});

// ---------------------------------------------------------------------------------------------
// Services

const smokeCheck = z.strictObject({
  http: z.strictObject({
    path: urlPath('smoke path').describe('Path requested on the new release (through its preview or instance port), starting with "/".'),
    method: z.enum(HTTP_METHODS).optional().describe(`HTTP method. Default ${DEFAULTS.smoke.method}.`),
    headers: httpHeaders().optional().describe('Request headers: names are HTTP tokens, values one line of text.'),
    expect: httpExpect.optional(),
  }).optional().describe('An HTTP request against the new release.'),
  run: argv('run', 'A program and its arguments (argv, never a shell), run in the service\'s cwd; exit code 0 passes. Placeholders such as ${environment} are substituted.').optional(),
  timeout: duration(`How long the check may take. Default ${DEFAULTS.smoke.timeout}.`, { positive: true, max: '1h' }).optional(),
}).superRefine(exactlyOne('a smoke check', ['http', 'run'])).describe('One smoke check: exactly one of http or run.');

type Mode = 'service' | 'override';

/**
 * The service schema, or (in override mode) the same shape with every key optional, for
 * `services.<name>.environments.<env>`. Required keys are typed as required in both modes:
 * only the service form's output is read as typed data, an override is merged as plain data.
 */
function buildService(mode: Mode) {
  const req = <T extends z.ZodType>(schema: T): T => (mode === 'service' ? schema : (schema.optional() as unknown as T));

  const local = z.strictObject({
    command: req(argv('command', 'The program and its arguments (argv, never a shell). Placeholders ${release.version}, ${release.image}, ${environment}, ${service}, ${port} are substituted inside each element.')),
    cwd: z.string().optional().describe('Working folder, relative to the folder of gangway.yaml. Default: that folder.'),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      error: (iss) => withHint(`${quote(iss.input)} is not a valid environment variable name`, 'use letters, digits and underscores, not starting with a digit'),
    }), placeholderString).optional().describe('Environment variables for each instance; values may hold placeholders. PORT is always set to the instance\'s own port.'),
    instances: z.int().min(1).max(100).optional().describe(`How many instances run behind the proxy (1–100). Default ${DEFAULTS.instances}.`),
    port: req(port('Public port served by the agent\'s proxy. Must differ from every other port in the project, in every environment.')),
    host: listenHost(`Address the public port listens on: a host name or IP address. Default ${DEFAULTS.host}.`, 'target.local.port').optional(),
    responseTimeout: duration(`How long the proxy waits for an instance's response head once it has forwarded the whole request; then it answers 504 and takes the instance out of traffic until a health check passes. A body that streams slowly after its head is not cut. Default ${DEFAULTS.responseTimeout}.`, { positive: true, max: '1h' }).optional(),
  }).describe('Run the service as local processes supervised by the Gangway agent.');

  const k8sName = (what: string) => z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid Kubernetes ${what} name`, 'use lowercase letters, digits, dashes and dots, starting and ending with a letter or digit'),
  }).max(253);
  // What the Kubernetes, Helm and GitOps targets share: the cluster, and the objects read through it.
  const cluster = {
    kubeconfig: z.string().min(1).optional().describe('Path of the kubeconfig, relative to the folder of gangway.yaml (`~/` is the home folder). Default: KUBECONFIG, else ~/.kube/config, else the in-cluster service account.'),
    context: z.string().min(1).optional().describe('The kubeconfig context to use. Default: its current-context.'),
    namespace: k8sName('namespace').optional().describe('Namespace of the service\'s objects. Default: the context\'s namespace, else default.'),
    requestTimeout: duration(`Limit on each call to the API server. Default ${DEFAULTS.kubernetes.requestTimeout}.`, { positive: true, max: '10m' }).optional(),
  };
  const objects = {
    deployment: k8sName('Deployment').optional().describe('The Deployment that runs the service. Default: the service\'s name.'),
    container: k8sName('container').optional().describe('The container whose image is the release\'s. Default: the Deployment\'s first container.'),
    service: k8sName('Service').optional().describe('The public Service. Default: the service\'s name.'),
    port: port('The pods\' port health and smoke checks reach. Default: the container\'s first declared port.').optional(),
    instances: z.int().min(1).max(100).optional().describe(`Replicas of a release (1–100). Default ${DEFAULTS.instances}.`),
    restartLimit: z.int().min(0).optional().describe(`Container restarts a new release's pod may have before the rollout fails. Default ${DEFAULTS.kubernetes.restartLimit}: none.`),
  };
  let kubernetes = z.strictObject({
    ...cluster,
    manifests: z.string().min(1).optional().describe('A YAML file or a folder of them (relative to the folder of gangway.yaml) holding the Deployment, its Service and anything else the service needs.'),
    kustomize: z.string().min(1).optional().describe('A kustomize overlay folder (relative to the folder of gangway.yaml), rendered with `kubectl kustomize`.'),
    ...objects,
    httpRoute: k8sName('HTTPRoute').optional().describe('A Gateway API HTTPRoute in the manifests that splits traffic by exact weights and header matches. Default: none; a canary weighs by replica counts.'),
    image: z.string().min(1).optional().describe('Image repository for a release given by version only (`<image>:<version>`). Default: the manifests\' image with its tag replaced.'),
    kubectl: z.string().min(1).optional().describe(`The kubectl binary that renders kustomize overlays (argv, never a shell). Default ${DEFAULTS.kubernetes.kubectl} on PATH.`),
  });
  if (mode === 'service') {
    kubernetes = kubernetes.superRefine(exactlyOne('target.kubernetes', ['manifests', 'kustomize'], 'give manifests (a YAML file or folder) or kustomize (an overlay folder)')) as unknown as typeof kubernetes;
  }
  kubernetes = kubernetes.describe('Run the service as a Deployment on a Kubernetes cluster.');

  const valuesKey = (what: string) => z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
    error: (iss) => withHint(`${quote(iss.input)} is not a values key`, `write the dotted path of ${what}, e.g. image.tag`),
  }).max(253);
  let helm = z.strictObject({
    ...cluster,
    release: k8sName('Helm release').optional().describe('The Helm release (`helm upgrade --install <release>`); blue-green and canary use `<release>-blue` and `<release>-green`. Default: the service\'s name.'),
    chart: req(z.string().min(1).describe('The chart: a folder relative to the folder of gangway.yaml, or a chart reference as helm takes it (`repo/chart`, `oci://registry/chart`).')),
    chartVersion: z.string().min(1).optional().describe('The version of a chart reference (`--version`). Default: the newest.'),
    values: z.array(z.string().min(1)).optional().describe('Values files (`-f`), relative to the folder of gangway.yaml, in order.'),
    imageKey: valuesKey('the image tag').optional().describe(`The values key that takes the release's tag. Default ${DEFAULTS.helm.imageKey}.`),
    imageKeys: z.strictObject({
      repository: req(valuesKey('the image repository').describe('The values key that takes the image repository.')),
      tag: req(valuesKey('the image tag').describe('The values key that takes the tag.')),
    }).optional().describe('Separate values keys for the image repository and tag (instead of imageKey).'),
    setString: z.record(valuesKey('a value'), placeholderString).optional().describe('Extra `--set-string` pairs; values may hold placeholders (${release.version}, ${environment}, ${service}).'),
    timeout: duration(`--timeout of helm upgrade --wait and helm rollback --wait. Default ${DEFAULTS.helm.timeout}.`, { positive: true, max: '1h' }).optional(),
    helm: z.string().min(1).optional().describe(`The helm binary (argv, never a shell). Default ${DEFAULTS.helm.binary} on PATH.`),
    ...objects,
    deployment: k8sName('Deployment').optional().describe('The Deployment the chart renders that runs the service. Default: the release name.'),
    service: k8sName('Service').optional().describe('The public Service the chart renders. Default: the release name.'),
    httpRoute: k8sName('HTTPRoute').optional().describe('A Gateway API HTTPRoute the chart renders that splits traffic by exact weights and header matches. Default: none.'),
    image: z.string().min(1).optional().describe('Image repository for a release given by version only, with imageKeys. Default: the chart\'s.'),
  });
  if (mode === 'service') {
    helm = helm.superRefine((h, ctx) => {
      if (h.imageKey !== undefined && h.imageKeys !== undefined) {
        ctx.addIssue({ code: 'custom', input: h, message: withHint('target.helm has both imageKey and imageKeys', 'give imageKey (the tag only) or imageKeys (repository and tag)') });
      }
    }) as unknown as typeof helm;
  }
  helm = helm.describe('Run the service as a Helm release on a Kubernetes cluster.');

  const template = (what: string) => z.string().min(1).superRefine((value, ctx) => {
    for (const m of value.matchAll(/\{([^{}]*)\}/g)) {
      if (m[1] === 'environment' || m[1] === 'service') continue;
      ctx.addIssue({ code: 'custom', input: value, message: withHint(`unknown placeholder {${m[1]}} in ${what}`, 'known placeholders: {environment}, {service}') });
    }
  });
  const gitops = z.strictObject({
    repo: req(z.string().min(1).describe('The config repository: a URL (https://…, ssh://…, git@host:path) or a folder relative to the folder of gangway.yaml.')),
    remote: z.string().min(1).optional().describe('With repo a local working copy: the name of its remote to push to. Default: repo itself.'),
    branch: z.string().min(1).optional().describe(`The branch Argo CD watches. Default ${DEFAULTS.gitops.branch}.`),
    file: req(template('target.gitops.file').describe('The values file to edit, relative to the repository root; {environment} and {service} are filled in.')),
    key: valuesKey('the image tag').optional().describe(`The dotted key in that file that takes the release's tag. Default ${DEFAULTS.gitops.key}.`),
    application: template('target.gitops.application').optional().describe(`The Argo CD Application; {environment} and {service} are filled in. Default ${DEFAULTS.gitops.application}.`),
    argocd: req(z.strictObject({
      server: req(z.url({ protocol: /^https?$/, error: (iss) => withHint(`${quote(iss.input)} is not an http(s) URL`, 'give the Argo CD API server\'s base URL, e.g. https://argocd.example.com') }).describe('Base URL of the Argo CD API server.')),
      tokenFromEnv: req(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: (iss) => withHint(`${quote(iss.input)} is not an environment variable name`, 'name the variable that holds the Argo CD token, e.g. ARGOCD_TOKEN') }).describe('The environment variable holding the Argo CD API token.')),
      insecure: z.boolean().optional().describe('Skip TLS verification of the Argo CD server (self-signed test setups only). Default false.'),
    }).describe('The Argo CD API Gangway asks to refresh and sync.')),
    syncTimeout: duration(`How long a sync may take to be Synced, Succeeded and Healthy at Gangway's commit. Default ${DEFAULTS.gitops.syncTimeout}.`, { positive: true, max: '1h' }).optional(),
    settle: duration(`How long Healthy must hold after the sync. Default ${DEFAULTS.gitops.settle}.`, { max: '10m' }).optional(),
    prune: z.boolean().optional().describe('Whether Gangway\'s syncs delete objects removed from Git (`argocd app sync --prune`). Default false.'),
    blueGreen: z.strictObject({
      activeKey: req(valuesKey('the serving slot').describe('The values key naming the slot the public Service selects: blue or green. Switching is a commit that writes the other slot\'s name there.')),
      tagKeys: req(z.strictObject({
        blue: req(valuesKey('the blue slot\'s tag').describe('The values key of the blue slot\'s tag.')),
        green: req(valuesKey('the green slot\'s tag').describe('The values key of the green slot\'s tag.')),
      }).describe('The values keys that take each slot\'s tag.')),
      previewKey: valuesKey('the preview slot').optional().describe('A values key Gangway keeps naming the slot that does not serve, for charts that cannot derive it from activeKey. Default: none.'),
      deployments: z.strictObject({
        blue: req(k8sName('Deployment').describe('The blue slot\'s Deployment.')),
        green: req(k8sName('Deployment').describe('The green slot\'s Deployment.')),
      }).optional().describe('The Deployments the chart runs the slots as. Default: <deployment>-blue and <deployment>-green.'),
      previewService: k8sName('Service').optional().describe('The Service the chart points at the slot that does not serve; smoke checks reach the new release through it. Default: <service>-preview.'),
    }).optional().describe('Blue-green by keys the chart exposes (used with strategy.blueGreen): the new release\'s tag goes into the slot that does not serve, then activeKey switches; each step is a commit and a sync.'),
    canary: z.strictObject({
      tagKey: req(valuesKey('the canary\'s tag').describe('The values key of the canary Deployment\'s tag.')),
      replicasKey: req(valuesKey('the canary\'s replicas').describe('The values key of the canary Deployment\'s replica count.')),
      weightKey: valuesKey('the canary\'s weight').optional().describe('The values key of the canary\'s share of requests, 0-100, for charts that split requests by weight (an HTTPRoute, a mesh). Default: none; requests split by replica counts.'),
      stableWeightKey: valuesKey('the stable weight').optional().describe('A values key Gangway keeps at 100 minus the canary\'s weight, for charts that cannot compute it. Only with weightKey. Default: none.'),
      deployment: k8sName('Deployment').optional().describe('The canary\'s Deployment. Default: <deployment>-canary.'),
    }).optional().describe('Canary by keys the chart exposes (used with strategy.canary): the canary\'s tag, replicas and weight; the stable release is key. Each step is a commit and a sync.'),
    ...cluster,
    ...objects,
  }).describe('Deploy the service by a commit to a config repository that Argo CD syncs.');

  let targetKeys = z.strictObject({ local: local.optional(), kubernetes: kubernetes.optional(), helm: helm.optional(), gitops: gitops.optional() });
  if (mode === 'service') targetKeys = targetKeys.superRefine(exactlyOne('target', TARGET_KINDS)) as unknown as typeof targetKeys;
  const target = reserveKeys(targetKeys, {
    command: { message: 'target command is not available yet; use local', hint: 'did you mean `target.local.command`?' },
  }).describe('Where the service runs: exactly one of local, kubernetes, helm, gitops.');

  const job = z.strictObject({
    manifest: req(z.string().min(1).describe('A YAML file holding one Job, relative to the folder of gangway.yaml. On Kubernetes its name gets a hash of the release and the deployment appended, so every deployment runs its own.')),
    timeout: duration(`How long the Job may take to complete. Default ${DEFAULTS.jobs.timeout}.`, { positive: true, max: '24h' }).optional(),
  }).describe('A Job applied and waited for.');
  const jobs = z.strictObject({
    beforeRollout: z.array(job).optional().describe('Jobs (a database migration) applied in order before the new release starts, each waited for until Complete; a Failed one, or one past its timeout, stops the deployment before traffic moves. Kubernetes target only.'),
  }).describe('Work run on the target as part of each deployment.');

  const health = z.strictObject({
    path: req(urlPath('health path').describe('Path of the health endpoint, starting with "/".')),
    expect: httpExpect.optional(),
    interval: duration(`Time between checks. Default ${DEFAULTS.health.interval}.`, { positive: true, max: '1h' }).optional(),
    timeout: duration(`How long one check may take. Default ${DEFAULTS.health.timeout}.`, { positive: true, max: '10m' }).optional(),
    failureThreshold: z.int().min(1).optional().describe(`Consecutive failures that mark an instance unhealthy (and fail the release during the watch). Default ${DEFAULTS.health.failureThreshold}.`),
    startTimeout: duration(`How long a new instance may take to pass its first check. Default ${DEFAULTS.health.startTimeout}.`, { positive: true, max: '1h' }).optional(),
  }).describe('How to tell a healthy instance. Default: GET / expecting 200.');

  let rolling = z.strictObject({
    maxSurge: z.int().min(0).optional().describe(`Extra instances started above the desired count during the update. Default ${DEFAULTS.rolling.maxSurge}.`),
    maxUnavailable: z.int().min(0).optional().describe(`Instances that may be missing below the desired count during the update. Default ${DEFAULTS.rolling.maxUnavailable}.`),
  });
  if (mode === 'service') {
    rolling = rolling.refine((r) => (r.maxSurge ?? DEFAULTS.rolling.maxSurge) + (r.maxUnavailable ?? DEFAULTS.rolling.maxUnavailable) >= 1, {
      error: withHint('maxSurge and maxUnavailable are both 0, so the update could never make progress', 'set maxSurge to 1 (the default) or more'),
    });
  }

  const blueGreen = z.strictObject({
    previewPort: port('Port on which the new release is served for checks before the switch. Must differ from every other port in the project. '
      + 'Default: the local agent chooses a free port and keeps it for the service and environment; `gangway status` and `gangway plan` show it.').optional(),
    scaleDownDelay: duration(`How long the previous release keeps running after the switch, for an instant switch back. Default ${DEFAULTS.scaleDownDelay}.`, { max: '24h' }).optional(),
  });

  const strategy = z.strictObject({
    rolling: rolling.optional().describe('Replace instances a few at a time.'),
    blueGreen: blueGreen.optional().describe('Start the new release beside the old one, check it on the preview port, then switch all traffic at once.'),
    canary: canary.optional().describe('Shift a share of real traffic to the new release step by step, judging it against the stable release; `canary: {}` uses the default steps.'),
  }).superRefine(exactlyOne('strategy', ['rolling', 'blueGreen', 'canary'], 'choose exactly one of rolling, blueGreen, canary, or remove strategy for the default rolling update'))
    .describe(`How a release replaces the previous one: exactly one of rolling, blueGreen, canary. Default rolling with maxSurge ${DEFAULTS.rolling.maxSurge}, maxUnavailable ${DEFAULTS.rolling.maxUnavailable}.`);

  const rollback = z.strictObject({
    automatic: z.boolean().optional().describe(`Roll back by itself when health or smoke checks fail or the watch sees failureThreshold consecutive failures. Default ${DEFAULTS.rollback.automatic}.`),
    watch: duration(`How long health is watched after a deployment finishes. Default ${DEFAULTS.rollback.watch}.`, { max: '24h' }).optional(),
  }).describe('What happens when a release turns out bad.');

  const migrations = buildMigrations(mode, req);

  return {
    target: req(target),
    health: health.optional(),
    strategy: strategy.optional(),
    analysis: templateName.nullable().optional()
      .describe('Analysis template that runs in the background for the whole rollout and the post-deploy watch, whatever the strategy; null for none (the default).'),
    smoke: z.array(smokeCheck).optional().describe('Checks run against the new release before it takes traffic, in order. An override replaces the whole list.'),
    rollback: rollback.optional(),
    drainTimeout: duration(`How long old instances may finish in-flight requests before they are stopped. Default ${DEFAULTS.drainTimeout}.`, { max: '1h' }).optional(),
    jobs: jobs.optional(),
    migrations: migrations.nullable().optional()
      .describe('Database migrations run as steps of each deployment: backup, migrate, validate; undone on rollback as `rollback` says. null: none (e.g. in one environment\'s overrides).'),
  };
}

const ROLLBACK_WORDS = ['restore', 'irreversible'] as const;
const ROLLBACK_HINT = 'write `{ down: [...] }` (a down migration), `restore` (the backup.pgDump taken before migrating) or `irreversible` (a rollback stops and asks a person)';

/** `rollback: restore`, `rollback: irreversible`, or `rollback: { down: [argv] }`. */
const migrationRollback = z.union([
  z.string().superRefine((word, ctx) => {
    if ((ROLLBACK_WORDS as readonly string[]).includes(word)) return;
    const guess = didYouMean(word, ROLLBACK_WORDS);
    ctx.addIssue({ code: 'custom', input: word, message: withHint(`unknown rollback ${quote(word)}`, guess ? `did you mean ${guess}?` : ROLLBACK_HINT) });
  }),
  reserveKeys(z.strictObject({
    down: argv('down', 'The down migration: a program and its arguments (argv, never a shell), run in the migrations\' cwd. ${release.version}, ${release.image}, ${environment} and ${service} are substituted (the release being rolled back).', CHECK_PLACEHOLDER_NAMES).optional(),
  }), Object.fromEntries(ROLLBACK_WORDS.map((word) => [word, { message: `${word} takes no options`, hint: `write \`rollback: ${word}\`` }])))
    .superRefine((r, ctx) => {
      // `{ restore: true }` is answered by its key's own message; "down is missing" would only distract.
      if (r.down === undefined) ctx.addIssue({ code: 'custom', input: r, params: { unlessUnknownKeys: true }, message: withHint('rollback needs down', ROLLBACK_HINT) });
    }),
], {
  error: (iss) => withHint(iss.input === undefined ? 'required key `rollback` is missing' : `rollback must be restore, irreversible or { down: [...] }, got ${describeValue(iss.input)}`, ROLLBACK_HINT),
}).describe('How a rollback undoes the migration: { down: [argv] } runs a down migration; restore loads the backup.pgDump taken before migrating; irreversible stops the rollback and asks a person.');

type RestoreShape = {
  backup?: { pgDump?: object; run?: string[] } | null;
  rollback?: string | { down?: string[] };
};

/** Only a pg_dump backup is one Gangway knows how to restore. */
function checkRestore(m: RestoreShape, ctx: z.core.$RefinementCtx<RestoreShape>): void {
  if (m.rollback !== 'restore' || m.backup?.pgDump !== undefined) return;
  ctx.addIssue({
    code: 'custom', input: m.rollback, path: ['rollback'],
    message: withHint('restore needs backup.pgDump', m.backup?.run
      ? 'Gangway restores only what pg_dump saved; a `run` backup is yours to restore: roll back with `{ down: [...] }`, or say `irreversible`'
      : 'add `backup: { pgDump: { urlFromEnv: DATABASE_URL } }`, or roll back with `{ down: [...] }`'),
  });
}

/**
 * The migrations of a service (or, in override mode, changes to them). A connection URL comes
 * from exactly one of url and urlFromEnv; in an override either may be left to the service.
 */
function buildMigrations(mode: Mode, req: <T extends z.ZodType>(schema: T) => T) {
  const connection = (what: string, database: string) => {
    const shape = {
      url: postgresUrl(`Connection URL of ${database}: postgres://… without a password (use urlFromEnv for one that needs it).`).optional(),
      urlFromEnv: envVarName(`Environment variable holding the postgres:// URL of ${database}; read when the file is loaded.`).optional(),
    };
    return { shape, check: mode === 'service' ? exactlyOne(what, ['url', 'urlFromEnv'], 'give urlFromEnv naming the environment variable that holds the database URL, e.g. DATABASE_URL') : () => {} };
  };

  const pgDumpConnection = connection('pgDump', 'the database to back up');
  const pgDump = z.strictObject({
    ...pgDumpConnection.shape,
    dir: z.string().min(1).optional().describe(`Folder the dumps are written to, relative to the folder of gangway.yaml. Default <stateDir>/${DEFAULTS.migrations.backupDir}.`),
  }).superRefine(pgDumpConnection.check).describe('Back up with pg_dump before migrating; `rollback: restore` restores this dump.');

  const backup = z.strictObject({
    pgDump: pgDump.optional(),
    run: argv('run', 'A backup program and its arguments (argv, never a shell), run in the migrations\' cwd; exit code 0 passes. ${release.version}, ${release.image}, ${environment} and ${service} are substituted.', CHECK_PLACEHOLDER_NAMES).optional(),
  }).superRefine(exactlyOne('backup', ['pgDump', 'run'])).nullable()
    .describe('A backup taken before migrating: exactly one of pgDump, run. Absent or null: none.');

  const sqlConnection = connection('sql', 'the database the query runs against');
  const sql = z.strictObject({
    ...sqlConnection.shape,
    query: req(z.string().min(1).describe('A query whose first row\'s first column must be true, e.g. `select count(*) > 0 from users`.')),
  }).superRefine(sqlConnection.check).describe('A SQL query against the database.');

  const validate = z.strictObject({
    run: argv('run', 'A program and its arguments (argv, never a shell), run in the migrations\' cwd; exit code 0 passes. ${release.version}, ${release.image}, ${environment} and ${service} are substituted.', CHECK_PLACEHOLDER_NAMES).optional(),
    sql: sql.optional(),
  }).superRefine(exactlyOne('validate', ['run', 'sql'])).nullable()
    .describe('A check after migrating, exactly one of run, sql; failing it fails the deployment (and rolls it back). Absent or null: none.');

  const fields = z.strictObject({
    backup: backup.optional(),
    migrate: req(argv('migrate', 'The migration: a program and its arguments (argv, never a shell), run in cwd; exit code 0 passes. ${release.version}, ${release.image}, ${environment} and ${service} are substituted.', CHECK_PLACEHOLDER_NAMES)),
    validate: validate.optional(),
    rollback: req(migrationRollback),
    cwd: z.string().min(1).optional().describe('Working folder of every migration command, relative to the folder of gangway.yaml. Default: the service\'s cwd.'),
    timeout: duration(`How long each command (backup, migrate, validate, rollback) may take. Default ${DEFAULTS.migrations.timeout}.`, { positive: true, max: '24h' }).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      error: (iss) => withHint(`${quote(iss.input)} is not a valid environment variable name`, 'use letters, digits and underscores, not starting with a digit'),
    }), placeholderStringOf(CHECK_PLACEHOLDER_NAMES)).optional()
      .describe('Environment variables for the migration commands, on top of Gangway\'s own; values may hold ${release.version}, ${release.image}, ${environment}, ${service}.'),
  });
  return mode === 'service' ? fields.superRefine(checkRestore) : fields;
}

const overrideSchema = reserveKeys(z.strictObject(buildService('override')), {
  ...GATE_KEYS_ELSEWHERE,
  ...PROJECT_KEYS_ELSEWHERE,
  dependsOn: { message: 'dependsOn is the same in every environment', hint: 'set it on the service itself' },
  environments: { message: 'overrides cannot be nested', hint: 'put each environment\'s overrides directly under services.<name>.environments.<environment>' },
}).describe('Settings for this environment only, deep-merged over the service\'s (mappings merge, lists replace; a different strategy replaces the service\'s strategy).');

const serviceFields = buildService('service');

/** A service's settings without its per-environment overrides; merged results are checked against it. */
export const serviceSettingsSchema = z.strictObject({
  dependsOn: z.array(z.string()).optional().describe('Services that must be deployed in an environment before this one.'),
  ...serviceFields,
});

/** One entry of `services`. */
export const serviceSchema = reserveKeys(z.strictObject({
  ...serviceSettingsSchema.shape,
  environments: z.record(z.string(), overrideSchema).optional()
    .describe('Per-environment overrides, keyed by environment name.'),
}), { ...GATE_KEYS_ELSEWHERE, ...PROJECT_KEYS_ELSEWHERE }).describe('A deployable unit.');

// ---------------------------------------------------------------------------------------------
// Environments

/** No IANA time zone name is this long; a longer text is not looked up or matched against them. */
const MAX_TIME_ZONE_LENGTH = 64;

let timeZones: readonly string[] | undefined;

function isTimeZone(zone: string): boolean {
  if (zone.length > MAX_TIME_ZONE_LENGTH) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const clock = (what: string, allowMidnightEnd: boolean) => z.string().regex(allowMidnightEnd ? /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/ : /^(?:[01]\d|2[0-3]):[0-5]\d$/, {
  error: (iss) => withHint(`${what} must be a time of day "HH:MM", got ${describeValue(iss.input)}`, `write it quoted with two-digit hours, e.g. "09:00"${allowMidnightEnd ? ' ("24:00" for the end of the day)' : ''}`),
});

const LOCAL_DATE_TIME = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d$/;

/** Whether a "YYYY-MM-DDTHH:MM" names a day the calendar has (no 31 April, 29 February only in leap years). */
function isCalendarDay(text: string): boolean {
  const m = LOCAL_DATE_TIME.exec(text);
  if (!m) return true; // the pattern has said what is wrong
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const localDateTime = (what: string) => {
  const error = (iss: { input?: unknown }) => withHint(`${what} must be a local date and time "YYYY-MM-DDTHH:MM", got ${describeValue(iss.input)}`,
    'write it quoted, e.g. "2026-12-24T00:00", a date that exists');
  return z.string().regex(LOCAL_DATE_TIME, { error }).refine(isCalendarDay, { error });
};

const WEEKLY_KEYS = ['days', 'from', 'to'] as const;
const ONE_OFF_KEYS = ['start', 'end'] as const;
const RANGE_EXAMPLE = '`{ days: [sat, sun], from: "00:00", to: "24:00" }` or `{ start: "2026-12-24T00:00", end: "2027-01-02T00:00" }`';

type RawRange = { days?: string[]; from?: string; to?: string; start?: string; end?: string };

/** A range is weekly (days, from, to) or one-off (start, end), never both; each shape needs both its ends. */
function checkRangeShape(r: RawRange, ctx: z.core.$RefinementCtx<RawRange>): void {
  const weekly = WEEKLY_KEYS.filter((k) => r[k] !== undefined);
  const oneOff = ONE_OFF_KEYS.filter((k) => r[k] !== undefined);
  if (weekly.length > 0 && oneOff.length > 0) {
    ctx.addIssue({
      code: 'custom', input: r,
      message: withHint(`a range cannot mix weekly keys (${weekly.join(', ')}) with one-off keys (${oneOff.join(', ')})`,
        'a weekly range takes days, from and to; a one-off range takes start and end; write them as two windows'),
    });
    return;
  }
  if (weekly.length === 0 && oneOff.length === 0) {
    ctx.addIssue({
      code: 'custom', input: r, params: { unlessUnknownKeys: true },
      message: withHint('a range needs from and to (weekly) or start and end (one-off)', `e.g. ${RANGE_EXAMPLE}`),
    });
    return;
  }
  const [first, last] = weekly.length > 0 ? ['from', 'to'] as const : ['start', 'end'] as const;
  for (const key of [first, last]) {
    if (r[key] !== undefined) continue;
    ctx.addIssue({
      code: 'custom', input: undefined, path: [key], params: { at: 'parent' },
      message: withHint(`required key \`${key}\` is missing`, weekly.length > 0
        ? 'a weekly range needs from and to, e.g. `{ from: "09:00", to: "17:00" }`'
        : 'a one-off range needs start and end, e.g. `{ start: "2026-12-24T00:00", end: "2027-01-02T00:00" }`'),
    });
  }
  const [a, b] = [r[first], r[last]];
  if (a === undefined || b === undefined || a < b) return;
  ctx.addIssue({
    code: 'custom', input: r,
    message: weekly.length > 0
      ? withHint(`from ${a} must be before to ${b}`, 'a range cannot pass midnight; split it into two windows')
      : withHint(`start ${a} must be before end ${b}`, 'a one-off range runs from start (inclusive) to end (exclusive)'),
  });
}

const windowRange = z.strictObject({
  days: z.array(z.enum(DAYS)).min(1).optional().describe('Weekly range: days it applies to (mon … sun). Default: every day.'),
  from: clock('from', false).optional().describe('Weekly range: start time "HH:MM" (inclusive), in the window\'s time zone.'),
  to: clock('to', true).optional().describe('Weekly range: end time "HH:MM" (exclusive), after from; "24:00" ends at midnight.'),
  start: localDateTime('start').optional().describe('One-off range: start "YYYY-MM-DDTHH:MM" (inclusive), local to the window\'s time zone.'),
  end: localDateTime('end').optional().describe('One-off range: end "YYYY-MM-DDTHH:MM" (exclusive), after start, local to the window\'s time zone.'),
}).superRefine(checkRangeShape)
  .describe('A weekly range (days, from, to) or a one-off range (start, end).');

const window = z.strictObject({
  allow: windowRange.optional().describe('Deployments are allowed only inside this range.'),
  deny: windowRange.optional().describe('Deployments are refused inside this range.'),
  timezone: z.string().refine(isTimeZone, {
    error: (iss) => {
      const zone = String(iss.input);
      timeZones ??= Intl.supportedValuesOf('timeZone');
      const guess = zone.length > MAX_TIME_ZONE_LENGTH ? undefined : didYouMean(zone, timeZones);
      return withHint(`unknown time zone ${quote(iss.input)}`,
        guess ? `did you mean "${guess}"?` : 'use an IANA time zone name such as "UTC", "Europe/Berlin" or "America/New_York"');
    },
  }).optional().describe(`IANA time zone of the range, e.g. America/New_York. Default ${DEFAULTS.timezone}.`),
}).superRefine(exactlyOne('a window', ['allow', 'deny'])).describe('A deployment window: exactly one of allow or deny.');

function gateItemName(what: string, example: string) {
  return z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid ${what} name`, `use lowercase letters, digits and dashes, starting with a letter (e.g. \`${example}\`)`),
  });
}

const customCheck = z.strictObject({
  name: gateItemName('check', 'ci-green').describe('Name of the check, unique within the environment; results are recorded under it.'),
  run: argv('run', 'A program and its arguments (argv, never a shell), run in the folder of gangway.yaml; exit code 0 passes. ${release.version}, ${release.image}, ${environment} and ${service} are substituted.', CHECK_PLACEHOLDER_NAMES).optional(),
  webhook: z.strictObject({
    url: httpUrl('url', 'https://status.example.com/api/health').refine((u) => !u.includes('${'), {
      error: withHint('placeholders are not filled in a webhook url', 'a check that needs the release can `run` a program with ${release.version}; write $ as %24 if the URL holds it'),
    }).describe('URL requested as written (no placeholders).'),
    method: z.enum(HTTP_METHODS).optional().describe(`HTTP method. Default ${DEFAULTS.checks.method}.`),
    headers: httpHeaders().optional().describe('Request headers: names are HTTP tokens, values one line of text.'),
    expect: httpExpect.optional(),
  }).optional().describe('An HTTP request whose response must match expect.'),
  timeout: duration(`How long the check may take. Default ${DEFAULTS.checks.timeout}.`, { positive: true, max: '1h' }).optional(),
}).superRefine(exactlyOne('a check', ['run', 'webhook']))
  .describe('A check that must pass before a deployment starts (CI green, scan clean, backup fresh, monitoring up): exactly one of run or webhook.');

const checklistItem = z.strictObject({
  name: gateItemName('checklist item', 'backup-verified').describe('Name of the item, unique within the environment; confirmations are recorded under it.'),
  text: z.string().min(1).describe('What the confirmer attests, as shown to them.'),
  confirmers: z.array(z.string().min(1)).min(1).superRefine(noRepeats('confirmer'))
    .describe('Who may confirm it: people (actor names) or names of groups under `groups`.'),
}).describe('A manual checklist item a named person, or a member of a named group, must confirm.');

const skippableGate = z.enum(SKIPPABLE_GATES, {
  error: (iss) => {
    if (iss.input === 'reason') {
      return withHint('reason cannot be skipped', 'an expedited deployment always needs a reason: it is recorded and flagged for post-incident review');
    }
    if (typeof iss.input !== 'string') return `expected a gate name, got ${describeValue(iss.input)}`;
    const guess = didYouMean(iss.input, SKIPPABLE_GATES);
    return withHint(`unknown gate ${quote(iss.input)}`, guess ? `did you mean ${guess}?` : `gates: ${SKIPPABLE_GATES.join(', ')}`);
  },
});

const autoDeploy = z.strictObject({
  image: z.strictObject({
    repository: placeholderStringOf(['service']).min(1)
      .describe('The repository polled for each service, as `host[:port]/path`; ${service} is replaced by the service name (e.g. `registry.example.com/shop/${service}`). Its registry\'s credentials come from `registries`.'),
    tagPattern: z.string().min(1).superRefine((pattern, ctx) => {
      try {
        new RegExp(pattern);
      } catch (err) {
        ctx.addIssue({
          code: 'custom', input: pattern,
          message: withHint(`${quote(pattern)} is not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`,
            'write a JavaScript regular expression, e.g. \'^[0-9]+[.][0-9]+[.][0-9]+$\' for tags like 1.4.2'),
        });
      }
    }).describe('A regular expression (JavaScript syntax) a tag must match to be deployed, e.g. `^[0-9]+[.][0-9]+[.][0-9]+$` for 1.4.2; anchor it with ^ and $ to match whole tags.'),
    order: z.enum(['semver', 'pushed']).optional()
      .describe(`Which matching tag is newest: \`semver\` (the highest semantic version; tags that are not one are ignored) or \`pushed\` (the tag that appeared in the registry last, as Gangway sees it from poll to poll). Default ${DEFAULTS.autoDeploy.order}.`),
    interval: duration(`How often the registry is asked for new tags. Default ${DEFAULTS.autoDeploy.interval}.`, { positive: true, max: '24h' }).optional(),
  }).optional().describe('Poll a registry: a new tag matching tagPattern is deployed.'),
  webhook: z.literal(true).optional().describe('Accept signed `POST /v1/webhooks/release` requests from CI (no API token; HMAC-SHA256 of the body with the secret of secretFromEnv in X-Gangway-Signature).'),
  secretFromEnv: envVarName('Environment variable holding the webhook\'s signing secret; required with webhook, read when the file is loaded.').optional(),
  services: z.array(z.string().min(1)).min(1).superRefine(noRepeats('service')).optional()
    .describe('Only these services are deployed automatically. Default: every service.'),
  allowPromoted: z.boolean().optional()
    .describe('Allow it in an environment that has promotion (not the first of its chain): the releases still pass every gate there, the promotion gate too. Default false.'),
}).superRefine(exactlyOne('autoDeploy', ['image', 'webhook'])).superRefine((a, ctx) => {
  if (a.webhook && a.secretFromEnv === undefined) {
    ctx.addIssue({ code: 'custom', input: a, path: ['webhook'], message: withHint('a webhook needs secretFromEnv', 'name the environment variable holding the signing secret: `secretFromEnv: GANGWAY_RELEASE_SECRET`') });
  }
  if (a.image && !a.webhook && a.secretFromEnv !== undefined) {
    ctx.addIssue({ code: 'custom', input: a.secretFromEnv, path: ['secretFromEnv'], message: withHint('secretFromEnv belongs to webhook', 'remove it, or use `webhook: true` instead of image') });
  }
}).describe('Releases that start themselves: new image tags in a registry (image) or signed requests from CI (webhook), deployed with actor gangway/auto through every gate of the environment.');

/** One entry of `environments`. */
export const environmentSchema = reserveKeys(z.strictObject({
  promotion: z.strictObject({
    from: z.string().describe('Environment a release must have succeeded in first; it must be declared earlier.'),
  }).optional().describe('Where releases come from.'),
  reason: z.enum(['required', 'optional']).optional().describe(`Whether a deployment must give a reason. Default ${DEFAULTS.reason}.`),
  queue: z.enum(['supersede', 'strict']).optional().describe(`What a deployment queued behind one in its post-deploy watch does: \`supersede\` ends that watch at once and starts (the watched deployment ends \`superseded\`); \`strict\` waits until the watch ends. Default ${DEFAULTS.queue}.`),
  approvals: z.strictObject({
    required: z.int().min(1).describe('How many approvals a deployment needs (at least 1), from distinct people.'),
    groups: z.array(z.string().min(1)).min(1).superRefine(noRepeats('group'))
      .describe('Groups (declared under `groups`) whose members may approve.'),
    allowSelfApproval: z.boolean().optional().describe(`Whether the requester may approve their own deployment. Default ${DEFAULTS.allowSelfApproval}.`),
    expires: duration('How long an approval counts; an older one must be given again. Default: it does not expire.', { positive: true, max: '168h' }).optional(),
  }).optional().describe('Approvals a deployment needs before it runs.'),
  windows: z.array(window).max(MAX_WINDOWS, {
    error: (iss) => withHint(`${Array.isArray(iss.input) ? iss.input.length : 'too many'} windows; an environment may have at most ${MAX_WINDOWS}`, 'merge windows that cover the same days, or remove one-off windows that have passed'),
  }).optional().describe(`Deployment windows; a deployment must be in every allow range and no deny range. At most ${MAX_WINDOWS}.`),
  checks: z.array(customCheck).superRefine(uniqueNames('check', 'checks', 'an environment')).optional()
    .describe('Commands or webhooks that must pass before a deployment starts, in order.'),
  checklist: z.array(checklistItem).superRefine(uniqueNames('checklist item', 'checklist', 'an environment')).optional()
    .describe('Manual items someone must confirm before a deployment starts.'),
  image: z.strictObject({
    exists: z.boolean().optional().describe(`The image must exist in its registry (its tag is resolved to a digest). Default ${DEFAULTS.image.exists}.`),
    signature: z.strictObject({
      publicKey: z.string().min(1)
        .describe('The cosign public key: a PEM file (relative to the folder of gangway.yaml) or the PEM text itself. Read when the file is loaded.'),
    }).optional().describe('The image must carry a cosign signature that verifies with this key.'),
  }).superRefine((image, ctx) => {
    if (image.exists === false && image.signature !== undefined) {
      ctx.addIssue({
        code: 'custom', input: false, path: ['exists'],
        message: withHint('a signature check needs the image, so exists cannot be false', 'remove `exists: false`'),
      });
    }
  }).optional().describe('Image gates, for releases given as an image.'),
  expedited: z.strictObject({
    skip: z.array(skippableGate).superRefine(noRepeats('gate')).optional()
      .describe(`Gates an expedited deployment skips: ${SKIPPABLE_GATES.join(', ')}. A reason is always required. Default none.`),
  }).optional().describe('Hotfix policy: `--expedited` deployments may skip these gates; they always need a reason and are flagged for post-incident review. Absent: no expedited deployments here.'),
  autoDeploy: autoDeploy.optional(),
  releases: z.strictObject({
    onFailure: z.enum(['rollback', 'stop']).optional()
      .describe(`What a release of several services (\`gangway deploy --all\`) does when one of them does not succeed: \`rollback\` rolls back the services it already shipped, in reverse dependency order; \`stop\` leaves them and starts no other. Default ${DEFAULTS.releaseOnFailure}.`),
  }).optional().describe('Releases of several services at once (release groups); see docs/releases.md.'),
}, {
  error: (iss) => iss.input === null ? withHint('expected a mapping, got null', 'write `{}` for an environment without policies') : undefined,
}), { ...PROJECT_KEYS_ELSEWHERE, ...MIGRATIONS_ELSEWHERE }).describe('A stage with its policies.');

// ---------------------------------------------------------------------------------------------
// Analysis templates and metrics

const METRIC_TEXT = { escape: false };

const promQuery = placeholderStringOf(METRIC_PLACEHOLDER_NAMES, METRIC_TEXT).min(1)
  .describe('A PromQL instant query returning one series. ${service}, ${environment}, ${version} and ${window} (the rule\'s window, e.g. 5m) are filled in.');

const metricSource = z.strictObject({
  builtin: z.enum(BUILTIN_METRICS, {
    error: (iss) => {
      if (typeof iss.input !== 'string') return `expected a builtin metric name, got ${describeValue(iss.input)}`;
      const guess = didYouMean(iss.input, BUILTIN_METRICS);
      return withHint(`unknown builtin metric ${quote(iss.input)}`, guess ? `did you mean ${guess}?` : `builtin metrics: ${BUILTIN_METRICS.join(', ')}`);
    },
  }).optional().describe(`One of the agent's own per-release request metrics: ${BUILTIN_METRICS.join(', ')}.`),
  prometheus: z.union([promQuery, z.strictObject({ query: promQuery })], {
    error: (iss) => withHint(`prometheus must be a query or { query }, got ${describeValue(iss.input)}`, 'write the PromQL query as a quoted string'),
  }).optional().describe('A PromQL query against metrics.prometheus.address: the query itself, or { query }.'),
  web: z.strictObject({
    url: httpUrl('url', 'http://127.0.0.1:9000/stats', METRIC_PLACEHOLDER_NAMES)
      .describe('URL answering with JSON; ${service}, ${environment}, ${version} and ${window} are filled in.'),
    field: z.string().min(1).describe('Dotted path to the number in the JSON body, e.g. `orders.failed_ratio`.'),
    headers: httpHeaders().optional().describe('Request headers: names are HTTP tokens, values one line of text.'),
    timeout: duration(`How long the request may take. Default ${DEFAULTS.metrics.web.timeout}.`, { positive: true, max: '10m' }).optional(),
  }).optional().describe('A number read from an HTTP endpoint\'s JSON.'),
}).superRefine(exactlyOne('a metric', ['builtin', 'prometheus', 'web']))
  .describe('Where the numbers come from: exactly one of builtin, prometheus, web.');

const ruleWindow = duration(`Trailing window each measurement covers. Default ${DEFAULTS.analysis.window}.`, { positive: true, max: '24h' }).optional();
const minSamples = z.int().min(0).optional()
  .describe(`Requests each release needs in the window for a verdict; fewer is inconclusive. Default ${DEFAULTS.analysis.minSamples}.`);

/** A direction written on a rule that has none gets its own message instead of "unknown key". */
const NO_DIRECTION = {
  threshold: { message: 'a threshold rule has no direction', hint: 'its limits say which way is bad: max fails above, min fails below (e.g. `min: 10` for "must not fall under 10"); direction belongs to relative and judge rules' },
  healthFailures: { message: 'a healthFailures rule has no direction', hint: 'it counts failed health checks; direction belongs to relative and judge rules' },
};

const threshold = reserveKeys(z.strictObject({
  metric: metricSource,
  max: z.number().optional().describe('Fails when the canary\'s value stays above this.'),
  min: z.number().optional().describe('Fails when the canary\'s value stays below this.'),
  for: duration(`How long the breach must last before the rule fails. Default ${DEFAULTS.analysis.for} (the first breach fails).`, { max: '24h' }).optional(),
  window: ruleWindow,
  minSamples,
}).superRefine((t, ctx) => {
  if (t.max === undefined && t.min === undefined) {
    ctx.addIssue({ code: 'custom', input: t, message: withHint('a threshold needs max or min', 'e.g. `max: 0.05` fails when the value goes above 0.05') });
  } else if (t.max !== undefined && t.min !== undefined && t.min > t.max) {
    ctx.addIssue({ code: 'custom', input: t.min, path: ['min'], message: withHint(`min ${t.min} is above max ${t.max}`, 'no value could pass; swap them') });
  }
}), { direction: NO_DIRECTION.threshold }).describe('Fails when the canary\'s value is above max (or below min) for a while: "error rate > 5% for 2m".');

export const DIRECTIONS = ['increase', 'decrease', 'either'] as const;

const direction = (description: string) => z.enum(DIRECTIONS, {
  error: (iss) => {
    const guess = typeof iss.input === 'string' ? didYouMean(iss.input, [...DIRECTIONS]) : undefined;
    return withHint(`expected increase, decrease or either, got ${describeValue(iss.input)}`, guess ? `did you mean ${guess}?` : 'increase: a rise is bad; decrease: a fall is bad; either: both are');
  },
}).optional().describe(description);

/**
 * The direction of a rule that does not write one: the builtin error rate and latencies only get
 * worse by going up; a metric the user names (a PromQL query, a web field, the request rate)
 * may be bad either way.
 */
export function defaultDirection(metric: { builtin?: BuiltinMetric } | undefined): (typeof DIRECTIONS)[number] {
  return metric?.builtin !== undefined && metric.builtin !== 'request_rate' ? 'increase' : 'either';
}

/** Issues for limits a rule's direction never checks (`maxDecrease` on a rule looking for a rise, …). */
function directionLimits(dir: (typeof DIRECTIONS)[number], written: boolean, limits: Array<[string, unknown]>, ctx: z.RefinementCtx): void {
  const why = written ? `direction is ${dir}` : `direction is ${dir} by default for this metric`;
  for (const [key, value] of limits) {
    if (value === undefined) continue;
    const up = key.endsWith('Increase');
    if ((up && dir === 'decrease') || (!up && dir === 'increase')) {
      ctx.addIssue({
        code: 'custom', input: value, path: key.split('.'),
        message: withHint(`${key} is never checked: ${why}`, up ? 'remove it, or set `direction: either` to check both ways' : 'remove it, or set `direction: decrease` (or either) to check a fall'),
      });
    }
  }
}

const relative = z.strictObject({
  metric: metricSource,
  direction: direction('Which way a difference from stable is bad: increase, decrease or either. Default increase for the builtin error rate and latencies, either for other metrics. maxRatio applies in each direction checked.'),
  maxRatio: z.number().positive().optional().describe('Fails when the releases differ by more than this factor in a direction checked: canary / stable above it (increase) or stable / canary above it (decrease). 2 means "more than twice" or "less than half" the stable release\'s value.'),
  maxIncrease: z.number().min(0).optional().describe('Fails when (canary − stable) / stable is above this: 0.5 means "up by more than 50%". Not with direction decrease.'),
  maxDecrease: z.number().min(0).max(1).optional().describe('Fails when (stable − canary) / stable is above this: 0.2 means "down by more than 20%". Not with direction increase.'),
  window: ruleWindow,
  minSamples,
}).superRefine((r, ctx) => {
  if (r.maxRatio === undefined && r.maxIncrease === undefined && r.maxDecrease === undefined) {
    ctx.addIssue({
      code: 'custom', input: r,
      message: withHint('a relative rule needs maxRatio, maxIncrease or maxDecrease', 'e.g. `maxRatio: 2` fails when the canary\'s value is more than twice the stable release\'s, `{ direction: decrease, maxDecrease: 0.2 }` when it is down by more than 20%'),
    });
    return;
  }
  directionLimits(r.direction ?? defaultDirection(r.metric), r.direction !== undefined, [['maxIncrease', r.maxIncrease], ['maxDecrease', r.maxDecrease]], ctx);
}).describe('Compares the canary with the stable release measured over the same window: "p95 > 2x stable".');

const healthFailures = reserveKeys(z.strictObject({
  consecutive: z.int().min(1).describe('Consecutive failed health checks of any canary instance that fail the rule.'),
}), { direction: NO_DIRECTION.healthFailures }).describe('Fails after consecutive failed health checks of a canary instance.');

const alphaRange = (iss: { input?: unknown }) => withHint(`alpha must be greater than 0 and at most 0.5, got ${String(iss.input)}`,
  `it is the significance level of the judge's tests; ${DEFAULTS.analysis.judge.alpha} (the default) or 0.05 are usual`);

const EFFECT_MEASURES = ['medianShift', 'meanRatio', 'cles'] as const;

const effectSize = z.strictObject({
  measure: z.enum(EFFECT_MEASURES, {
    error: (iss) => withHint(`expected medianShift, meanRatio or cles, got ${describeValue(iss.input)}`, 'medianShift: ratio of the medians; meanRatio: ratio of the means (metric judges only); cles: P(canary > stable)'),
  }).optional().describe('How the size of a difference is measured: medianShift (canary median / stable median), meanRatio (canary mean / stable mean; a judge with a metric only) or cles (common-language effect size, P(canary > stable) + ½ P(tie), 0.5 when they do not differ). Default medianShift for latency, meanRatio for a metric.'),
  allowedIncrease: z.number().positive().optional().describe('A significant rise passes while the measure stays at or below this: 1.2 (ratios) or 0.6 (cles). Default: 1 and 0.5 (no band); for latency, maxLatencyShift.'),
  allowedDecrease: z.number().positive().optional().describe('A significant fall passes while the measure stays at or above this: 0.8 (ratios) or 0.4 (cles). Default: 1 and 0.5 (no band); for latency, 1 / maxLatencyShift.'),
}).describe('The tolerance band: a difference smaller than this passes even when it is significant (Kayenta\'s allowedIncrease / allowedDecrease).');

const judge = z.strictObject({
  metric: metricSource.optional().describe('Judge this metric instead of the request windows: its value every `step` over the window, canary against stable, with a Mann-Whitney U test (exact for small samples). A PromQL query (prometheus).'),
  direction: direction('Which way a difference of latency or of the metric is bad: increase, decrease or either. Default increase for latency, either for a metric. The error test always looks for more errors.'),
  step: duration(`Spacing of the metric's samples over the window (with metric). Default ${DEFAULTS.analysis.judge.step}.`, { positive: true, max: '1h' }).optional(),
  effectSize: effectSize.optional(),
  errors: z.boolean().optional().describe(`Compare error proportions. Default ${DEFAULTS.analysis.judge.errors} (false with metric).`),
  latency: z.boolean().optional().describe(`Compare latency distributions. Default ${DEFAULTS.analysis.judge.latency} (false with metric).`),
  alpha: z.number().gt(0, { error: alphaRange }).lte(0.5, { error: alphaRange }).optional()
    .describe(`Significance level of the tests, in (0, 0.5]. Default ${DEFAULTS.analysis.judge.alpha}.`),
  minSamples: z.int().min(1).optional().describe(`Requests (or, with metric, samples) each release needs in the window; fewer is inconclusive. Default ${DEFAULTS.analysis.judge.minSamples} (${DEFAULTS.analysis.judge.metricMinSamples} samples with metric).`),
  window: duration(`Trailing window compared. Default ${DEFAULTS.analysis.judge.window}.`, { positive: true, max: '24h' }).optional(),
  maxLatencyShift: z.number().positive().optional()
    .describe(`How much slower the canary may be before a significant difference fails it, as a ratio (the same as effectSize { measure: medianShift, allowedIncrease }). Default ${DEFAULTS.analysis.judge.maxLatencyShift}.`),
}).superRefine((j, ctx) => {
  const issue = (path: string, input: unknown, message: string, hint: string): void => {
    ctx.addIssue({ code: 'custom', input, path: path === '' ? [] : path.split('.'), message: withHint(message, hint) });
  };
  if (j.metric !== undefined) {
    for (const key of ['errors', 'latency', 'maxLatencyShift'] as const) {
      if (j[key] !== undefined) issue(key, j[key], `${key} does not apply to a judge with a metric`, 'a judge compares either the request windows (errors, latency) or one metric; write two judge rules for both');
    }
    if (j.metric.builtin !== undefined || j.metric.web !== undefined) {
      issue(j.metric.builtin !== undefined ? 'metric.builtin' : 'metric.web', j.metric.builtin ?? j.metric.web, 'a judge samples its metric over the window, which only a prometheus metric can give',
        j.metric.builtin !== undefined ? 'judge the builtin metrics without `metric` (errors, latency), or write the metric as a PromQL query' : 'write the metric as a PromQL query, or judge it with a relative rule');
    }
  } else {
    if (j.errors === false && j.latency === false) issue('', j, 'the judge compares nothing: errors and latency are both false', 'set errors or latency to true (both are by default)');
    if (j.step !== undefined) issue('step', j.step, 'step applies to a judge with a metric', 'remove it; the request windows are read whole');
    if (j.direction !== undefined && j.latency === false) issue('direction', j.direction, 'direction applies to latency or a metric, and this judge tests errors only', 'remove it; the error test always looks for more failed requests');
    if (j.effectSize?.measure === 'meanRatio') issue('effectSize.measure', 'meanRatio', 'meanRatio needs the values themselves; latency comes as a histogram, which has no mean', 'use medianShift or cles for latency');
    if (j.effectSize !== undefined && j.maxLatencyShift !== undefined) issue('maxLatencyShift', j.maxLatencyShift, 'maxLatencyShift and effectSize both set the tolerance band', 'keep one: maxLatencyShift 1.5 is effectSize { measure: medianShift, allowedIncrease: 1.5 }');
  }
  const e = j.effectSize;
  if (e !== undefined) {
    const cles = e.measure === 'cles';
    if (e.allowedIncrease !== undefined && (cles ? !(e.allowedIncrease >= 0.5 && e.allowedIncrease < 1) : !(e.allowedIncrease >= 1))) {
      issue('effectSize.allowedIncrease', e.allowedIncrease, `allowedIncrease ${e.allowedIncrease} is ${cles ? 'outside [0.5, 1)' : 'below 1'}`, cles ? 'cles is 0.5 when the releases do not differ; e.g. 0.6 lets a canary above stable in 60% of pairs pass' : 'a ratio of 1 means no difference; e.g. 1.2 lets a rise of 20% pass');
    }
    if (e.allowedDecrease !== undefined && (cles ? !(e.allowedDecrease > 0 && e.allowedDecrease <= 0.5) : !(e.allowedDecrease <= 1))) {
      issue('effectSize.allowedDecrease', e.allowedDecrease, `allowedDecrease ${e.allowedDecrease} is ${cles ? 'outside (0, 0.5]' : 'above 1'}`, cles ? 'cles is 0.5 when the releases do not differ; e.g. 0.4 lets a canary below stable in 60% of pairs pass' : 'a ratio of 1 means no difference; e.g. 0.8 lets a fall of 20% pass');
    }
    const dir = j.direction ?? (j.metric !== undefined ? 'either' : 'increase');
    directionLimits(dir, j.direction !== undefined, [['effectSize.allowedIncrease', e.allowedIncrease], ['effectSize.allowedDecrease', e.allowedDecrease]], ctx);
  }
}).describe('Statistical judge, canary vs stable: on the agent\'s request metrics (errors, latency), or on one metric sampled over the window.');

const POLICY_HINT = 'write pause, fail, tolerate, or { tolerate: N }';

function verdictPolicy(description: string) {
  return z.union([
    z.enum(['pause', 'fail', 'tolerate'], {
      error: (iss) => {
        const guess = typeof iss.input === 'string' ? didYouMean(iss.input, ['pause', 'fail', 'tolerate']) : undefined;
        return withHint(`expected pause, fail, tolerate or { tolerate: N }, got ${describeValue(iss.input)}`, guess ? `did you mean ${guess}?` : POLICY_HINT);
      },
    }),
    z.strictObject({
      tolerate: z.int().min(1, { error: withHint('tolerate must be at least 1', 'write fail to fail at the first one') })
        .describe('How many in a row may pass before the rule fails.'),
    }),
  ], {
    error: (iss) => withHint(`expected pause, fail, tolerate or { tolerate: N }, got ${describeValue(iss.input)}`, POLICY_HINT),
  }).describe(description);
}

const rule = z.strictObject({
  name: z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid rule name`, 'use lowercase letters, digits and dashes, starting with a letter (e.g. `error-rate`)'),
  }).describe('Name of the rule, unique within its template; verdicts are reported under it.'),
  threshold: threshold.optional(),
  relative: relative.optional(),
  healthFailures: healthFailures.optional(),
  judge: judge.optional(),
  onInconclusive: verdictPolicy(`What an inconclusive verdict does: pause the rollout, fail it, or tolerate it (${DEFAULTS.analysis.tolerateLimit} in a row, or { tolerate: N }, then fail). Default tolerate.`).optional(),
  onError: verdictPolicy(`What a metric provider error does: pause, fail, tolerate, or { tolerate: N }. Default ${DEFAULTS.analysis.onError.action}.`).optional(),
}).superRefine(exactlyOne('a rule', ['threshold', 'relative', 'healthFailures', 'judge']))
  .describe('One rule: exactly one of threshold, relative, healthFailures, judge.');

/** One entry of `analysis`. */
export const analysisTemplateSchema = z.strictObject({
  interval: duration(`How often the rules are measured. Default ${DEFAULTS.analysis.interval}.`, { positive: true, max: '1h' }).optional(),
  rules: z.array(rule).min(1, { error: withHint('a template needs at least one rule', 'e.g. `- { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.05 } }`') })
    .superRefine(uniqueNames('rule', 'rules', 'a template'))
    .describe('The rules; the template fails when any rule fails.'),
}).describe('A named set of analysis rules.');

const requestQuery = (what: string, example: string) => placeholderStringOf(REQUEST_QUERY_PLACEHOLDERS, METRIC_TEXT).min(1)
  .describe(`PromQL instant query for ${what}, one series per release (grouped by versionLabel); \${service} and \${environment} are filled in. Default: ${example}`);

const metrics = z.strictObject({
  prometheus: z.strictObject({
    address: httpUrl('address', 'http://127.0.0.1:9090').describe('Base URL of the Prometheus server, e.g. http://127.0.0.1:9090.'),
    timeout: duration(`How long one query may take. Default ${DEFAULTS.metrics.prometheus.timeout}.`, { positive: true, max: '10m' }).optional(),
  }).optional().describe('A Prometheus server for `prometheus` metrics.'),
  requests: z.strictObject({
    total: requestQuery('the cumulative count of requests', DEFAULTS.metrics.requests.total).optional(),
    errors: requestQuery('the cumulative count of failed (5xx) requests', DEFAULTS.metrics.requests.errors).optional(),
    buckets: requestQuery('the cumulative latency histogram buckets in seconds, one series per release and `le`', DEFAULTS.metrics.requests.buckets).optional(),
    versionLabel: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, {
      error: (iss) => withHint(`${quote(iss.input)} is not a Prometheus label name`, 'use letters, digits and underscores, not starting with a digit'),
    }).optional().describe(`The label that names the release in the three queries' results. Default ${DEFAULTS.metrics.requests.versionLabel} (the pods' gangway.io/release label after Prometheus's labelmap relabelling).`),
  }).optional().describe('The builtin request metrics (error_rate, request_rate, p50/p95/p99_latency) read from Prometheus, for targets that do not measure requests themselves (kubernetes). `requests: {}` uses the default queries. Needs metrics.prometheus.'),
}).superRefine((m, ctx) => {
  if (m.requests !== undefined && m.prometheus === undefined) {
    ctx.addIssue({ code: 'custom', input: m.requests, path: ['requests'], message: withHint('metrics.requests needs metrics.prometheus', 'add `prometheus: { address: http://… }` under metrics') });
  }
}).describe('Metric providers besides the builtin one.');

// ---------------------------------------------------------------------------------------------
// People, registries, incidents

const groups = z.record(nameKey('group'), z.array(z.string().min(1)).min(1).superRefine(noRepeats('member'))
  .describe('Member actor names (as deployments and approvals record them).'))
  .describe('Approval groups and checklist confirmers: group name → people.');

/** host[:port] as image references write it: a DNS name or IPv4 address, or a bracketed IPv6 address. */
const REGISTRY_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const registryHost = z.string().superRefine((host, ctx) => {
  if (REGISTRY_HOST.test(host)) return;
  const bare = host.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  ctx.addIssue({
    code: 'custom', input: host,
    message: withHint(`${quote(host)} is not a registry host`, host.startsWith('http://') || host.startsWith('https://')
      ? `write the host without the scheme: "${bare}" (set insecure: true for plain HTTP)`
      : `write host[:port] as in image references, e.g. "ghcr.io" or "127.0.0.1:5000"${bare !== host && REGISTRY_HOST.test(bare) ? `; here "${bare}"` : ''}`),
  });
}).describe('host[:port], as in image references (e.g. ghcr.io, 127.0.0.1:5000).');

type RawRegistry = { host: string; insecure?: boolean; username?: string; passwordFromEnv?: string; tokenFromEnv?: string };

const registry = z.strictObject({
  host: registryHost,
  insecure: z.boolean().optional().describe(`Speak plain HTTP (a local registry). Default ${DEFAULTS.registry.insecure}.`),
  username: z.string().min(1).optional().describe('User name for basic auth, with passwordFromEnv.'),
  passwordFromEnv: envVarName('Environment variable holding the password (basic auth, with username); read when the file is loaded.').optional(),
  tokenFromEnv: envVarName('Environment variable holding a bearer token, instead of username and password; read when the file is loaded.').optional(),
}).superRefine((r: RawRegistry, ctx: z.core.$RefinementCtx<RawRegistry>) => {
  if (r.passwordFromEnv !== undefined && r.tokenFromEnv !== undefined) {
    ctx.addIssue({
      code: 'custom', input: r,
      message: withHint('a registry has both passwordFromEnv and tokenFromEnv', 'choose one: username with passwordFromEnv (basic auth), or tokenFromEnv (a bearer token)'),
    });
  } else if (r.passwordFromEnv !== undefined && r.username === undefined) {
    ctx.addIssue({ code: 'custom', input: r, message: withHint('passwordFromEnv needs a username', 'add `username:` beside it') });
  } else if (r.username !== undefined && r.tokenFromEnv !== undefined) {
    ctx.addIssue({
      code: 'custom', input: r.username, path: ['username'],
      message: withHint('username is not used with tokenFromEnv', 'remove username, or give passwordFromEnv instead of tokenFromEnv'),
    });
  } else if (r.username !== undefined && r.passwordFromEnv === undefined) {
    ctx.addIssue({
      code: 'custom', input: r.username, path: ['username'],
      message: withHint('username needs passwordFromEnv', 'add `passwordFromEnv:` naming the environment variable that holds the password'),
    });
  }
}).describe('A registry Gangway asks about images (tag → digest, signatures). Secrets come from environment variables, never the file.');

const registries = z.array(registry).superRefine((list, ctx) => {
  const firsts = new Map<string, number>();
  list.forEach((r, i) => {
    const host = r.host.toLowerCase();
    const first = firsts.get(host) ?? i;
    if (first === i) {
      firsts.set(host, i);
      return;
    }
    ctx.addIssue({
      code: 'custom', input: r.host, path: [i, 'host'],
      message: withHint(`registry ${r.host} is listed twice`, `registries[${first}] is the same host; keep one`),
    });
  });
}).describe('Registries that need credentials or plain HTTP; other registries are asked anonymously over HTTPS.');

/** A Prometheus label name, as Alertmanager sends it. */
const labelName = z.string().superRefine((label, ctx) => {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(label)) return;
  ctx.addIssue({
    code: 'custom', input: label,
    message: label === '' ? 'must not be empty' : withHint(`${quote(label)} is not a valid label name`, 'use letters, digits and underscores, not starting with a digit, e.g. gangway_freeze'),
  });
});

const incidents = z.strictObject({
  label: labelName.optional().describe(`Alert label that marks an incident. Default ${DEFAULTS.incidents.label}.`),
  value: z.string().min(1).optional().describe(`Value the label must have. Default "${DEFAULTS.incidents.value}".`),
}).describe('Incident freezes: a firing Alertmanager alert carrying label = value (POST /v1/webhooks/alertmanager) freezes deployments to the environments and services its environment / service labels name (all when absent), until it resolves. Absent: alerts freeze nothing.');

// ---------------------------------------------------------------------------------------------
// Records and notifications

const RECORDS_PATH_EXAMPLE = DEFAULTS.records.path;

/** A folder inside the records repository, with `{environment}` / `{service}` placeholders. */
const recordsPath = z.string().min(1).superRefine((path, ctx) => {
  const issue = (message: string, hint: string) => ctx.addIssue({ code: 'custom', input: path, message: withHint(message, hint) });
  if (isAbsolute(path)) {
    issue('path must be relative to the repository', `write it without the leading "/", e.g. "${path.replace(/^\/+/, '')}"`);
    return;
  }
  if (path.split(/[\\/]/).includes('..')) {
    issue('path must stay inside the repository', 'remove the ".." parts; to write elsewhere, point records.repo at that repository');
    return;
  }
  if (path.includes('${')) {
    issue('placeholders in path are written {name}, without $', `write ${JSON.stringify(path.replaceAll('${', '{'))}`);
    return;
  }
  const known = RECORDS_PATH_PLACEHOLDERS as readonly string[];
  for (const [, name] of path.matchAll(/\{([^}]*)\}/g)) {
    if (known.includes(name)) continue;
    const guess = didYouMean(name, known);
    issue(`unknown placeholder {${name}}`, guess ? `did you mean {${guess}}?` : `known placeholders: ${known.map((n) => `{${n}}`).join(', ')}`);
  }
}).describe(`Folder inside the repository that records are written to; {environment} and {service} are filled in. Default ${RECORDS_PATH_EXAMPLE}.`);

/** What git accepts as a branch name (git check-ref-format), without a leading dash that would read as an option. */
const BRANCH_NAME = /^(?!-)(?!\/)(?!.*\/\/)(?!.*\.\.)(?!.*@\{)(?!.*[./]$)(?!.*\.lock$)(?!.*\/\.)(?!\.)[^\s~^:?*[\\\x00-\x1f\x7f]+$/;

const records = z.strictObject({
  repo: z.string().min(1).describe('The working folder of a git repository (it has a .git), relative to the folder of gangway.yaml; records are committed there.'),
  path: recordsPath.optional(),
  remote: z.string().min(1).refine((r) => !r.startsWith('-') && !/\s/.test(r), {
    error: (iss) => withHint(`${quote(iss.input)} is not a remote`, 'give the name of a remote of the repository (e.g. origin) or its URL'),
  }).optional().describe('Push each record to this remote (a name such as origin, or a URL) after committing it. Default: commit only.'),
  branch: z.string().regex(BRANCH_NAME, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid branch name`, 'e.g. main or deployment-records: no spaces, none of ~ ^ : ? * [ \\, no "..", not starting with "-"'),
  }).optional().describe('Branch to commit on (and push). Default: the branch checked out.'),
  author: z.strictObject({
    name: z.string().regex(/^[^<>\n]*\S[^<>\n]*$/, {
      error: withHint('must be a name without < > or line breaks', `e.g. "${DEFAULTS.records.author.name}"`),
    }).optional().describe(`Commit author name. Default ${DEFAULTS.records.author.name}.`),
    email: z.string().regex(/^[^\s<>@]+@[^\s<>@]+$/, {
      error: (iss) => withHint(`${quote(iss.input)} is not an email address`, `e.g. "${DEFAULTS.records.author.email}"`),
    }).optional().describe(`Commit author email. Default ${DEFAULTS.records.author.email}.`),
  }).optional().describe('Who the record commits are by; the deployment\'s actor is named in each record.'),
  pushRetries: z.int().min(0).max(100).optional()
    .describe(`How many times a rejected or failed push is retried (after fetching and rebasing) before the failure is recorded. Default ${DEFAULTS.records.pushRetries}.`),
}).describe('Deployment records (who shipped what, why, on what evidence) committed to a git repository when each deployment ends, as the runbooks keep them under docs/deployments/{environment}/. Absent: none.');

const notifyEvent = z.enum(NOTIFY_EVENTS, {
  error: (iss) => {
    if (typeof iss.input !== 'string') return `expected an event name, got ${describeValue(iss.input)}`;
    const guess = didYouMean(iss.input, NOTIFY_EVENTS);
    return withHint(`unknown event ${quote(iss.input)}`, guess ? `did you mean ${guess}?` : `events: ${NOTIFY_EVENTS.join(', ')}`);
  },
});

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** Whether `value` is an http:// or https:// URL. */
export function isHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

const webhookNotifier = z.strictObject({
  url: httpUrl('url', 'https://hooks.example.com/deploys').refine((u) => !isHttpUrl(u) || new URL(u).password === '', {
    error: withHint('the url holds a password', 'secrets stay out of the file: give the URL through urlFromEnv, or sign requests with secretFromEnv'),
  }).optional().describe('URL the JSON payload is POSTed to.'),
  urlFromEnv: envVarName('Environment variable holding the URL, when the URL itself is a secret; read when the file is loaded.').optional(),
  secretFromEnv: envVarName('Environment variable holding the signing secret: each body is signed with HMAC-SHA256 in X-Gangway-Signature: sha256=<hex>. Default: unsigned.').optional(),
}).superRefine(exactlyOne('webhook', ['url', 'urlFromEnv'])).describe('A JSON POST of each event, signed when secretFromEnv is set.');

const slackNotifier = z.strictObject({
  urlFromEnv: envVarName('Environment variable holding the incoming webhook URL (it is a secret); read when the file is loaded.').optional(),
  url: z.string().superRefine((url, ctx) => {
    if (!isHttpUrl(url)) {
      ctx.addIssue({ code: 'custom', input: url, message: withHint('url must be an http:// or https:// URL', 'e.g. "http://127.0.0.1:9000/slack"') });
    } else if (!LOOPBACK_HOSTS.includes(new URL(url).hostname)) {
      ctx.addIssue({
        code: 'custom', input: url,
        message: withHint('a Slack webhook URL is a secret: give it through urlFromEnv', 'put it in an environment variable and write `urlFromEnv: SLACK_WEBHOOK_URL`; url is for a receiver on this machine (127.0.0.1, localhost)'),
      });
    }
  }).optional().describe('URL of a receiver on this machine (127.0.0.1, localhost); any other URL goes through urlFromEnv.'),
}).superRefine(exactlyOne('slack', ['urlFromEnv', 'url'], 'give urlFromEnv naming the environment variable that holds the incoming webhook URL, e.g. SLACK_WEBHOOK_URL'))
  .describe('A Slack-compatible incoming webhook ({ text, blocks }).');

const GITHUB_REPO = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]+$/;

const githubNotifier = z.strictObject({
  repo: z.string().superRefine((repo, ctx) => {
    if (GITHUB_REPO.test(repo) && !repo.endsWith('.git')) return;
    const fromUrl = /^(?:https?:\/\/[^/]+\/|git@[^:]+:)([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(repo)?.[1];
    ctx.addIssue({
      code: 'custom', input: repo,
      message: withHint(`${quote(repo)} is not a GitHub repository`, fromUrl && GITHUB_REPO.test(fromUrl) ? `write "${fromUrl}"` : 'write "owner/name", e.g. "acme/shop"'),
    });
  }).describe('The repository deployments are created in, "owner/name".'),
  tokenFromEnv: envVarName('Environment variable holding a token that may create deployments and deployment statuses in repo; read when the file is loaded.'),
  apiUrl: httpUrl('apiUrl', DEFAULTS.notifications.githubApiUrl).optional()
    .describe(`Base URL of the GitHub REST API (GitHub Enterprise: https://<host>/api/v3). Default ${DEFAULTS.notifications.githubApiUrl}.`),
}).describe('GitHub deployments and deployment statuses for each deployment.');

const notifier = z.strictObject({
  name: z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid notifier name`, 'use lowercase letters, digits and dashes, starting with a letter (e.g. `ops-webhook`)'),
  }).describe('Name of the notifier, unique in the file; deliveries are recorded under it.'),
  webhook: webhookNotifier.optional(),
  slack: slackNotifier.optional(),
  github: githubNotifier.optional(),
  events: z.array(notifyEvent).min(1, { error: withHint('events is empty, so nothing would be sent', 'remove events to be told of every event') })
    .superRefine(noRepeats('event')).optional()
    .describe(`Events sent: ${NOTIFY_EVENTS.join(', ')}. Default: all.`),
  timeout: duration(`How long one delivery may take. Default ${DEFAULTS.notifications.timeout}.`, { positive: true, max: '10m' }).optional(),
  retries: z.int().min(0).max(20).optional().describe(`How many times a failed delivery is retried, with backoff. Default ${DEFAULTS.notifications.retries}.`),
}).superRefine(exactlyOne('a notifier', ['webhook', 'slack', 'github']))
  .describe('One notifier: exactly one of webhook, slack, github.');

const notifications = z.array(notifier).superRefine(uniqueNames('notifier', 'notifications', 'the file'))
  .describe('Where deployment events are sent. A failed delivery is retried and recorded; it never fails a deployment.');

// ---------------------------------------------------------------------------------------------
// Alert tiers (src/alerts): conditions in the rule language, channels, an action

/** Built-in sets of tiers; `runbook-tiers` is the runbooks' P0–P2 (src/alerts/presets.ts). */
export const ALERT_PRESETS = ['runbook-tiers'] as const;
export const ALERT_ACTIONS = ['rollback', 'freeze', 'none'] as const;

const alertAction = z.enum(ALERT_ACTIONS, {
  error: (iss) => {
    const guess = typeof iss.input === 'string' ? didYouMean(iss.input, ALERT_ACTIONS) : undefined;
    return withHint(`expected rollback, freeze or none, got ${describeValue(iss.input)}`, guess ? `did you mean ${guess}?` : 'rollback rolls the deployment back; freeze freezes its environment; none only notifies');
  },
}).describe(`What a firing tier does besides notifying: rollback (the deployment it concerns), freeze (its environment, until a person lifts the freeze) or none. Default ${DEFAULTS.alerts.action}.`);

const alertChannels = z.array(z.string().regex(NAME_PATTERN, {
  error: (iss) => withHint(`${quote(iss.input)} is not a notifier name`, 'name a notifier of `notifications`, e.g. `ops-webhook`'),
})).superRefine(noRepeats('channel')).describe('Notifiers (names under `notifications`) told when the tier fires and resolves, whatever their `events`.');

const alertCondition = z.strictObject({
  name: z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid condition name`, 'use lowercase letters, digits and dashes, starting with a letter (e.g. `error-rate`)'),
  }).describe('Name of the condition, unique within its tier; alerts name it.'),
  threshold: threshold.optional(),
  relative: relative.optional(),
  healthFailures: healthFailures.optional(),
  judge: judge.optional(),
  for: duration('How long the condition must hold, at every evaluation, before the tier fires. Default 0s (at once). A threshold may say it as its own `for`.', { max: '24h' }).optional(),
}).superRefine(exactlyOne('a condition', ['threshold', 'relative', 'healthFailures', 'judge']))
  .superRefine((c, ctx) => {
    if (c.for !== undefined && c.threshold?.for !== undefined) {
      ctx.addIssue({ code: 'custom', input: c.for, path: ['for'], message: withHint('the condition says `for` twice: here and in its threshold', 'keep one of them; both mean how long the breach must last') });
    }
  }).describe('One condition in the rule language of `analysis`: exactly one of threshold, relative, healthFailures, judge; it holds while the rule fails.');

const alertTier = z.strictObject({
  conditions: z.array(alertCondition).min(1, { error: withHint('a tier needs at least one condition', 'e.g. `- { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.1, for: 2m } }`') })
    .superRefine(uniqueNames('condition', 'conditions', 'a tier'))
    .describe('The tier fires when any condition has held for its duration.'),
  channels: alertChannels.optional(),
  action: alertAction.optional(),
}).describe('One alert tier.');

const alerts = z.strictObject({
  preset: z.enum(ALERT_PRESETS, {
    error: (iss) => withHint(`unknown alert preset ${describeValue(iss.input)}`, `presets: ${ALERT_PRESETS.join(', ')}`),
  }).optional().describe('Start from built-in tiers: runbook-tiers is the runbooks\' P0 (rollback), P1 (freeze) and P2 (notify), named p0, p1, p2.'),
  interval: duration(`How often every tier is measured for each deployment. Default ${DEFAULTS.alerts.interval}.`, { positive: true, max: '1h' }).optional(),
  channels: z.record(nameKey('alert tier'), alertChannels).optional().describe('With a preset: where each of its tiers goes, e.g. `{ p0: [pager], p1: [ops] }`.'),
  actions: z.record(nameKey('alert tier'), alertAction).optional().describe('With a preset: a different action for some of its tiers, e.g. `{ p1: none }`.'),
  tiers: z.record(nameKey('alert tier'), alertTier).optional().describe('Tiers of your own, by name (besides a preset\'s).'),
}).superRefine((a, ctx) => {
  if (a.preset === undefined && a.tiers === undefined) {
    ctx.addIssue({ code: 'custom', input: a, message: withHint('alerts needs a preset or tiers', 'write `preset: runbook-tiers` with `channels`, or define `tiers`') });
  }
  if (a.preset !== undefined) return;
  for (const key of ['channels', 'actions'] as const) {
    if (a[key] === undefined) continue;
    ctx.addIssue({ code: 'custom', input: a[key], path: [key], message: withHint(`${key} applies to the tiers of a preset, and alerts has no preset`, `add \`preset: runbook-tiers\`, or write ${key === 'channels' ? 'channels' : 'action'} inside each tier under tiers`) });
  }
}).describe('Alert tiers evaluated on each deployment\'s release for its rollout and post-deploy watch: a tier that fires is recorded (alert.fired), notifies its channels and may roll back or freeze. See docs/alerts.md.');

// ---------------------------------------------------------------------------------------------
// The file

const store = z.strictObject({
  sqlite: z.strictObject({
    path: z.string().min(1).optional().describe(`Database file, relative to the folder of gangway.yaml. Default ${DEFAULTS.sqlitePath}.`),
  }).optional().describe('Embedded SQLite (the default).'),
  postgres: z.strictObject({
    url: z.string().regex(/^postgres(?:ql)?:\/\//, {
      error: withHint('must be a postgres:// URL', 'e.g. "postgres://gangway@db.internal:5432/gangway"; prefer urlFromEnv to keep the password out of the file'),
    }).optional().describe('Connection URL, postgres://…'),
    urlFromEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      error: withHint('must be the name of an environment variable', 'e.g. DATABASE_URL'),
    }).optional().describe('Name of the environment variable that holds the connection URL; read when the file is loaded.'),
  }).superRefine(exactlyOne('postgres', ['url', 'urlFromEnv'])).optional().describe('PostgreSQL, for several orchestrator replicas.'),
}).superRefine(exactlyOne('store', ['sqlite', 'postgres'])).describe('Where Gangway keeps its state: exactly one of sqlite, postgres.');

/** The whole of `gangway.yaml`. */
export const configSchema = reserveKeys(z.strictObject({
  project: z.string().regex(NAME_PATTERN, {
    error: (iss) => withHint(`${quote(iss.input)} is not a valid project name`, 'use lowercase letters, digits and dashes, starting with a letter (e.g. `shop`)'),
  }).describe('Project name: lowercase letters, digits and dashes.'),
  stateDir: z.string().min(1).optional().describe(`Folder for Gangway's state (database, agent socket, logs), relative to the folder of gangway.yaml. Default ${DEFAULTS.stateDir}.`),
  server: z.strictObject({
    host: listenHost(`Address the API and dashboard listen on: a host name or IP address. Default ${DEFAULTS.server.host}.`, 'server.port').optional(),
    port: port(`Port of the API and dashboard. Default ${DEFAULTS.server.port}.`).optional(),
    allowedHosts: z.array(z.string().regex(/^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, {
      error: (iss) => withHint(`${quote(iss.input)} is not a host name`, 'write a name such as gangway.example.com, or .example.com for the name and its subdomains; no scheme, port or path'),
    }).max(253)).max(100).optional().describe('More Host header names the API answers (the name of a reverse proxy in front of it); `.example.com` also accepts its subdomains. IP addresses, localhost and server.host are always accepted; any other Host is refused (a defence against DNS rebinding). Default none.'),
  }).optional().describe('The orchestrator\'s HTTP API and dashboard.'),
  agent: z.strictObject({
    host: listenHost(`Address the agent's metrics endpoint listens on: a host name or IP address. Default ${DEFAULTS.agent.host}.`, 'agent.metricsPort').optional(),
    metricsPort: port(`Port of the agent's metrics endpoint. Default ${DEFAULTS.agent.metricsPort}.`).optional(),
    forwardedHeaders: z.boolean().optional().describe(
      'Add X-Forwarded-For (the client address), X-Forwarded-Proto (http) and X-Forwarded-Host (the Host header) to every request the proxy forwards. '
      + `Default ${DEFAULTS.agent.forwardedHeaders}.`),
    trustForwarded: z.array(z.string().superRefine((entry, ctx) => {
      const problem = trustEntryProblem(entry);
      if (problem !== null) {
        ctx.addIssue({ code: 'custom', input: entry, message: withHint(problem, 'write an IPv4 or IPv6 address or CIDR range, e.g. "127.0.0.1", "10.0.0.0/8", "::1" or "fd00::/8"') });
      }
    })).optional().describe(
      'Peers (IP addresses or CIDR ranges, IPv4 or IPv6) whose own X-Forwarded-* headers the proxy keeps, appending the peer to X-Forwarded-For: '
      + 'a load balancer in front of the agent. From any other peer they are replaced. Default none.'),
  }).optional().describe('The local agent that runs instances and the proxy.'),
  store: store.optional(),
  metrics: metrics.optional(),
  groups: groups.optional(),
  registries: registries.optional(),
  incidents: incidents.optional(),
  records: records.optional(),
  notifications: notifications.optional(),
  alerts: alerts.optional(),
  environments: z.record(nameKey('environment'), environmentSchema)
    .refine((e) => Object.keys(e).length > 0, { error: withHint('declare at least one environment', 'e.g. `environments: { dev: {} }`') })
    .superRefine(atMostKeys('environments', MAX_ENVIRONMENTS))
    .describe(`Environments in promotion order (e.g. dev, staging, prod). At most ${MAX_ENVIRONMENTS}.`),
  services: z.record(nameKey('service'), serviceSchema)
    .refine((s) => Object.keys(s).length > 0, { error: withHint('declare at least one service', 'see docs/config.md#services') })
    .superRefine(atMostKeys('services', MAX_SERVICES))
    .describe(`Services, by name. At most ${MAX_SERVICES}.`),
  analysis: z.record(nameKey('analysis template'), analysisTemplateSchema).optional()
    .describe('Analysis templates, by name; canary steps and services name them. A name may not be that of a built-in preset (runbook-defaults).'),
}, {
  error: (iss) => iss.input === null || iss.input === undefined
    ? withHint('the file is empty', 'start with `project:`, `environments:` and `services:`; see docs/config.md')
    : undefined,
}), { ...GATE_KEYS_ELSEWHERE, ...MIGRATIONS_ELSEWHERE }).meta({
  title: 'gangway.yaml',
  description: 'Gangway configuration: environments, services, how they are deployed, checked and rolled back.',
});

/** `gangway.yaml` as validated, before defaults: what compile.ts reads. */
export type RawConfig = z.output<typeof configSchema>;
/** One service as written, including its `environments` overrides. */
export type RawService = z.output<typeof serviceSchema>;
/** A service's settings, as written or with one environment's overrides merged in. */
export type RawServiceSettings = z.output<typeof serviceSettingsSchema>;
/** One environment as written. */
export type RawEnvironment = z.output<typeof environmentSchema>;
/** One analysis template as written. */
export type RawAnalysisTemplate = z.output<typeof analysisTemplateSchema>;
/** `migrations` of a service as written (after merging an environment's overrides). */
export type RawMigrations = NonNullable<RawServiceSettings['migrations']>;
/** One entry of `notifications` as written. */
export type RawNotifier = z.output<typeof notifier>;
/** `records` as written. */
export type RawRecords = z.output<typeof records>;
/** `alerts` as written. */
export type RawAlerts = z.output<typeof alerts>;
/** A rule's `metric` as written. */
export type RawMetricSource = z.output<typeof metricSource>;
