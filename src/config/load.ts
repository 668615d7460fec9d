/**
 * Reading `gangway.yaml`: parse the YAML, check it against the schema, check what needs the
 * whole file, compile. Every problem found is reported at once, in file order, each with its
 * line and column (the first MAX_PROBLEMS of them, then a count); a file with any problem never
 * yields a config. Every step takes time roughly linear in the file's size, within the limits
 * of limits.ts.
 */
import { dirname, resolve } from 'node:path';
import { PRESETS } from '../analysis/presets.js';
import { checkAlerts } from '../alerts/config-checks.js';
import { checkAutoDeploy } from '../autodeploy/config-checks.js';
import { ConfigError } from '../errors.js';
import type { GangwayConfig } from './types.js';
import { compileConfig, mergeOverride } from './compile.js';
import { readRegularFile } from './files.js';
import { checkGates } from './gates.js';
import { checkIntegrations, envValue } from './integrations.js';
import { MAX_CONFIG_BYTES, MAX_PROBLEMS } from './limits.js';
import { configSchema, DEFAULTS, serviceSettingsSchema } from './schema.js';
import type { RawConfig, RawServiceSettings } from './schema.js';
import { ProblemLocator, backquote, didYouMean, formatPath, issuesToProblems, listNames, zodErrorMap } from './problems.js';
import type { PathSegment, RawProblem } from './problems.js';
import { readYaml } from './yaml.js';

// Finding the file needs no YAML or schema: it lives apart so the CLI can do it without loading them.
export { CONFIG_FILE_NAMES, findConfigFile } from './find.js';

/** Options of {@link parseConfig} and {@link loadConfig}. */
export interface LoadOptions {
  /**
   * Where every `…FromEnv` key is looked up (`store.postgres.urlFromEnv`, the registries',
   * the notifiers' and the migrations' secrets). Default `process.env`.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Checks of the compiled config that need more than the file (the capabilities of the targets
   * its services run on): each problem's `path` is relative to the service's settings and is
   * reported where the file says it — in the environment's override when it is there, else at the
   * service's key — with its line and column, like every other problem.
   */
  check?: (config: GangwayConfig) => ServiceSettingsProblem[];
}

/** A problem of one service's merged settings in one environment; `path` is relative to the settings (`strategy.canary.steps[2]`). */
export interface ServiceSettingsProblem extends RawProblem { service: string; environment: string }

/**
 * Reads, validates and compiles a config file.
 *
 * @example
 * const config = await loadConfig(findConfigFile(process.cwd()) ?? 'gangway.yaml');
 * @throws ConfigError listing every problem, in file order; also when the file cannot be read.
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<GangwayConfig> {
  // A named pipe or a device is refused before anything waits on it or reads it without end.
  const read = await readRegularFile(file, MAX_CONFIG_BYTES);
  if (!read.ok) {
    throw new ConfigError([{
      file, line: 1, column: 1, path: '', message: `cannot read the config file: ${read.reason}`,
      hint: read.refusal === 'too-large'
        ? 'a gangway.yaml describes a project in a few kilobytes; check that this is the right file'
        : read.refusal === 'not-a-file' && read.reason !== 'is a folder, not a file'
          ? 'give the path of the config file itself, a regular file such as gangway.yaml'
          : 'run gangway in a folder that has gangway.yaml (or one below it), or pass --config <file>',
    }]);
  }
  return parseConfig(read.text, file, options);
}

/**
 * Validates and compiles config text. `file` names the text in messages, and its folder is the
 * root that relative paths (cwd, stateDir, store.sqlite.path, records.repo, backup dirs) are
 * resolved against.
 *
 * @example
 * const config = parseConfig('project: shop\nenvironments: { dev: {} }\nservices: …', '/srv/shop/gangway.yaml');
 * @throws ConfigError listing every problem, in file order.
 */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): GangwayConfig {
  const env = options.env ?? process.env;
  const { doc, lineCounter, aliases, data } = readYaml(text, file);
  const locator = new ProblemLocator(doc, lineCounter, file, aliases);
  const fail = (raw: RawProblem[]): never => {
    throw new ConfigError(locator.report(raw));
  };

  const parsed = configSchema.safeParse(data, { error: zodErrorMap, reportInput: true });
  if (!parsed.success) fail(issuesToProblems(parsed.error.issues));
  const raw = parsed.data as RawConfig;

  const rootDir = dirname(resolve(file));
  const problems = [...checkWholeFile(raw, locator, rootDir, env), ...checkGates(raw, rootDir, env)];
  if (problems.length > 0) fail(problems);
  const config = compileConfig(raw, { file, env });
  const late = options.check?.(config) ?? [];
  if (late.length > 0) fail(late.map(({ service, environment, ...p }) => placeMergedProblem(p, service, environment, locator)));
  return config;
}

// ---------------------------------------------------------------------------------------------
// Checks that need the whole file

function checkWholeFile(raw: RawConfig, locator: ProblemLocator, rootDir: string, env: Readonly<Record<string, string | undefined>>): RawProblem[] {
  const problems: RawProblem[] = [];
  const envNames = Object.keys(raw.environments);
  const declared = new Set(envNames);
  checkPromotions(raw, envNames, problems);
  checkDependencies(raw, problems);
  checkAnalysis(raw, problems);
  checkAlerts(raw, problems);
  checkAutoDeploy(raw, env, problems);

  const merged = new Map<string, Map<string, RawServiceSettings>>();
  for (const [service, def] of Object.entries(raw.services)) {
    const { environments: overrides = {}, ...base } = def;
    const perEnv = new Map<string, RawServiceSettings>();
    merged.set(service, perEnv);
    for (const name of Object.keys(overrides)) {
      if (!declared.has(name)) {
        problems.push({
          path: ['services', service, 'environments', name], at: 'key',
          message: `${backquote(name)} is not a declared environment`,
          suggest: () => {
            const guess = didYouMean(name, envNames);
            return guess ? `did you mean \`${guess}\`?` : `declared environments: ${listNames(envNames)}`;
          },
        });
      }
    }
    for (const environment of envNames) {
      const override = Object.hasOwn(overrides, environment) ? overrides[environment] : undefined;
      const settings = mergeOverride(base, override);
      if (override !== undefined) {
        const result = serviceSettingsSchema.safeParse(settings, { error: zodErrorMap, reportInput: true });
        if (!result.success) {
          problems.push(...issuesToProblems(result.error.issues).map((p) => placeMergedProblem(p, service, environment, locator)));
          continue;
        }
      }
      perEnv.set(environment, settings);
    }
  }
  checkPorts(raw, envNames, merged, locator, problems);
  problems.push(...checkIntegrations(raw, merged, rootDir, env, (path) => locator.has(path)));

  const fromEnv = raw.store?.postgres?.urlFromEnv;
  if (fromEnv !== undefined && !envValue(env, fromEnv)) {
    problems.push({
      path: ['store', 'postgres', 'urlFromEnv'], at: 'value',
      message: `environment variable ${fromEnv} is not set`,
      hint: `set ${fromEnv} to a postgres:// URL before starting gangway, or give store.postgres.url`,
    });
  }
  return problems;
}

/**
 * A problem of merged settings is shown where the override says it when it does, otherwise
 * at the service's own key, naming the environment whose merge caused it.
 */
function placeMergedProblem(p: RawProblem, service: string, environment: string, locator: ProblemLocator): RawProblem {
  const inOverride = ['services', service, 'environments', environment, ...p.path];
  const inService = ['services', service, ...p.path];
  const probe = p.at === 'parent' ? p.path.length - 1 : p.path.length;
  if (locator.has(inOverride.slice(0, inOverride.length - p.path.length + probe))) return { ...p, path: inOverride };
  return { ...p, path: inService, message: `${p.message} (in environment ${environment}, after merging its overrides)` };
}

function checkPromotions(raw: RawConfig, envNames: string[], problems: RawProblem[]): void {
  const positions = new Map(envNames.map((name, i) => [name, i]));
  envNames.forEach((name, index) => {
    const from = raw.environments[name].promotion?.from;
    if (from === undefined) return;
    const path = ['environments', name, 'promotion', 'from'];
    const position = positions.get(from);
    if (from === name) {
      problems.push({ path, at: 'value', message: 'an environment cannot be promoted from itself', suggest: () => promoteHint(envNames, index) });
    } else if (position === undefined) {
      problems.push({
        path, at: 'value', message: `${backquote(from)} is not a declared environment`,
        suggest: () => {
          const guess = didYouMean(from, envNames);
          return guess ? `did you mean \`${guess}\`?` : promoteHint(envNames, index);
        },
      });
    } else if (position > index) {
      problems.push({
        path, at: 'value', message: `\`${from}\` is declared after \`${name}\``,
        hint: 'environments are listed in promotion order: declare the source environment first',
      });
    }
  });
}

function promoteHint(envNames: string[], index: number): string {
  const earlier = envNames.slice(0, index);
  return earlier.length ? `promote from an environment declared earlier: ${listNames(earlier)}` : 'the first environment has no promotion source; remove promotion';
}

function checkDependencies(raw: RawConfig, problems: RawProblem[]): void {
  const names = Object.keys(raw.services);
  const positions = new Map(names.map((name, i) => [name, i]));
  const edges = new Map<string, string[]>();
  for (const service of names) {
    const valid: string[] = [];
    (raw.services[service].dependsOn ?? []).forEach((dep, i) => {
      const path = ['services', service, 'dependsOn', i];
      if (dep === service) {
        problems.push({ path, at: 'value', message: 'a service cannot depend on itself' });
      } else if (!positions.has(dep)) {
        problems.push({
          path, at: 'value', message: `${backquote(dep)} is not a declared service`,
          suggest: () => {
            const guess = didYouMean(dep, names);
            return guess ? `did you mean \`${guess}\`?` : `declared services: ${listNames(names)}`;
          },
        });
      } else {
        valid.push(dep);
      }
    });
    edges.set(service, valid);
  }

  // Depth-first search, on a stack of its own so a long chain of dependencies cannot exhaust the
  // call stack; a grey node met again closes a cycle. Each cycle is reported once, starting from
  // its first-declared service, at the dependsOn entry that begins it; past MAX_PROBLEMS cycles
  // the rest would not be listed, so they are not looked for.
  const state = new Map<string, 'grey' | 'black'>();
  const onStack = new Map<string, number>();
  const path: string[] = [];
  const reported = new Set<string>();
  const reportCycle = (dep: string): void => {
    const cycle = path.slice(onStack.get(dep));
    const key = [...cycle].sort().join(',');
    if (reported.has(key)) return;
    reported.add(key);
    const first = cycle.reduce((a, b) => ((positions.get(a) ?? 0) <= (positions.get(b) ?? 0) ? a : b));
    const at = cycle.indexOf(first);
    const rotated = [...cycle.slice(at), ...cycle.slice(0, at)];
    const next = rotated[1 % rotated.length];
    problems.push({
      path: ['services', first, 'dependsOn', (raw.services[first].dependsOn ?? []).indexOf(next)], at: 'value',
      message: `dependency cycle: ${[...rotated, first].join(' → ')}`,
      hint: 'remove one of these dependencies',
    });
  };
  for (const root of names) {
    if (state.has(root)) continue;
    const frames: Array<{ service: string; next: number }> = [{ service: root, next: 0 }];
    state.set(root, 'grey');
    onStack.set(root, 0);
    path.push(root);
    while (frames.length > 0 && reported.size < MAX_PROBLEMS) {
      const frame = frames[frames.length - 1];
      const deps = edges.get(frame.service) ?? [];
      if (frame.next >= deps.length) {
        frames.pop();
        path.pop();
        onStack.delete(frame.service);
        state.set(frame.service, 'black');
        continue;
      }
      const dep = deps[frame.next++];
      if (state.get(dep) === 'grey') {
        reportCycle(dep);
      } else if (!state.has(dep)) {
        state.set(dep, 'grey');
        onStack.set(dep, path.length);
        path.push(dep);
        frames.push({ service: dep, next: 0 });
      }
    }
    if (reported.size >= MAX_PROBLEMS) return;
  }
}

/**
 * Template names must resolve (to the file's templates or a preset), may not hide a preset,
 * and a Prometheus query needs a Prometheus server to ask.
 */
function checkAnalysis(raw: RawConfig, problems: RawProblem[]): void {
  const presetNames = Object.keys(PRESETS);
  const templates = raw.analysis ?? {};
  for (const name of Object.keys(templates)) {
    if (presetNames.includes(name)) {
      problems.push({
        path: ['analysis', name], at: 'key',
        message: `\`${name}\` is the name of a built-in analysis template`,
        hint: `give yours another name, or use the preset by name without defining it (presets: ${presetNames.join(', ')})`,
      });
    }
  }
  const known = [...Object.keys(templates).filter((n) => !presetNames.includes(n)), ...presetNames];
  const knownSet = new Set(known);
  const checkName = (name: string | null | undefined, path: PathSegment[]): void => {
    if (name === null || name === undefined || knownSet.has(name)) return;
    problems.push({
      path, at: 'value', message: `${backquote(name)} is not an analysis template`,
      suggest: () => {
        const guess = didYouMean(name, known);
        return guess ? `did you mean \`${guess}\`?` : `analysis templates: ${listNames(known)}`;
      },
    });
  };
  const checkSettings = (settings: { analysis?: string | null; strategy?: RawServiceSettings['strategy'] } | undefined, at: PathSegment[]): void => {
    checkName(settings?.analysis, [...at, 'analysis']);
    settings?.strategy?.canary?.steps?.forEach((step, i) => {
      const path = [...at, 'strategy', 'canary', 'steps', i, 'analysis'];
      if (typeof step.analysis === 'string') checkName(step.analysis, path);
      else if (step.analysis) checkName(step.analysis.template, [...path, 'template']);
    });
  };
  for (const [service, def] of Object.entries(raw.services)) {
    checkSettings(def, ['services', service]);
    for (const [environment, override] of Object.entries(def.environments ?? {})) {
      checkSettings(override, ['services', service, 'environments', environment]);
    }
  }

  if (raw.metrics?.prometheus) return;
  for (const [name, template] of Object.entries(templates)) {
    template.rules.forEach((rule, i) => {
      const kind = rule.threshold ? 'threshold' : rule.relative ? 'relative' : undefined;
      const metric = rule.threshold?.metric ?? rule.relative?.metric;
      if (kind === undefined || metric?.prometheus === undefined) return;
      problems.push({
        path: ['analysis', name, 'rules', i, kind, 'metric', 'prometheus'], at: 'value',
        message: 'a prometheus metric needs a Prometheus server, and metrics.prometheus is not set',
        hint: 'set metrics.prometheus.address, e.g. `metrics: { prometheus: { address: "http://127.0.0.1:9090" } }`',
      });
    });
  }
}

/** Users of one port named in its problem before the rest are counted. */
const MAX_LISTED_PLACES = 10;

interface PortUse { port: number; who: string; path?: PathSegment[]; service?: string; environment?: string; role: 'public' | 'preview' | 'server' | 'agent' }

function checkPorts(raw: RawConfig, envNames: string[], merged: Map<string, Map<string, RawServiceSettings>>, locator: ProblemLocator, problems: RawProblem[]): void {
  const uses: PortUse[] = [
    { port: raw.server?.port ?? DEFAULTS.server.port, who: 'the server', path: raw.server?.port !== undefined ? ['server', 'port'] : undefined, role: 'server' },
    { port: raw.agent?.metricsPort ?? DEFAULTS.agent.metricsPort, who: 'the agent metrics endpoint', path: raw.agent?.metricsPort !== undefined ? ['agent', 'metricsPort'] : undefined, role: 'agent' },
  ];
  for (const [service, perEnv] of merged) {
    const overrides = raw.services[service].environments ?? {};
    for (const environment of envNames) {
      const settings = perEnv.get(environment);
      if (!settings) continue;
      const override = Object.hasOwn(overrides, environment) ? overrides[environment] : undefined;
      const source = (rest: PathSegment[], overridden: boolean): PathSegment[] =>
        overridden ? ['services', service, 'environments', environment, ...rest] : ['services', service, ...rest];
      const local = settings.target.local;
      if (local) {
        uses.push({
          port: local.port, who: `service ${service} in ${environment}`, service, environment, role: 'public',
          path: source(['target', 'local', 'port'], override?.target?.local?.port !== undefined),
        });
      }
      const preview = settings.strategy?.blueGreen?.previewPort;
      if (preview !== undefined) {
        uses.push({
          port: preview, who: `the preview of service ${service} in ${environment}`, service, environment, role: 'preview',
          path: source(['strategy', 'blueGreen', 'previewPort'], override?.strategy?.blueGreen?.previewPort !== undefined),
        });
      }
    }
  }

  // One problem per port, listing every user of it; users that take the port from the same
  // line (a service's port shared by several environments) are named together.
  const byPort = new Map<number, PortUse[]>();
  for (const use of uses) {
    const users = byPort.get(use.port);
    if (users) users.push(use);
    else byPort.set(use.port, [use]);
  }
  for (const [port, users] of byPort) {
    if (users.length < 2) continue;
    const groups: Array<{ first: PortUse; environments: string[] }> = [];
    const bySource = new Map<string, { first: PortUse; environments: string[] }>();
    for (const use of users) {
      const source = use.path === undefined ? undefined : `${use.role} ${formatPath(use.path)}`;
      const same = source === undefined ? undefined : bySource.get(source);
      if (same && use.environment) {
        same.environments.push(use.environment);
        continue;
      }
      const group = { first: use, environments: use.environment ? [use.environment] : [] };
      groups.push(group);
      if (source !== undefined && !same) bySource.set(source, group);
    }
    const describe = ({ first, environments }: { first: PortUse; environments: string[] }): string => {
      const where = first.path ? `line ${locator.locate({ path: first.path, at: 'value', message: '' }).line}` : 'by default';
      if (first.role === 'server' || first.role === 'agent') return `${first.who} (${first.role === 'server' ? 'server.port' : 'agent.metricsPort'}, ${where})`;
      const whose = `service ${first.service} in ${listText(environments.length > MAX_LISTED_PLACES ? [...environments.slice(0, MAX_LISTED_PLACES), `${environments.length - MAX_LISTED_PLACES} more environments`] : environments)}`;
      return `${first.role === 'preview' ? `the preview of ${whose}` : whose} (${where})`;
    };
    const shared = groups.find((g) => g.environments.length > 1);
    const at = (groups[1] ?? groups[0]).first.path ?? groups[0].first.path ?? [];
    const key = shared?.first.role === 'preview' ? ['strategy', 'blueGreen', 'previewPort'] : ['target', 'local', 'port'];
    const described = groups.slice(0, MAX_LISTED_PLACES).map(describe);
    if (groups.length > MAX_LISTED_PLACES) described.push(`${groups.length - MAX_LISTED_PLACES} more`);
    problems.push({
      path: at, at: 'value',
      message: `port ${port} is used more than once: by ${described.join(' and by ')}`,
      hint: shared
        ? `give each environment its own port: set ${formatPath(['services', shared.first.service ?? '', 'environments', shared.environments[1], ...key])}`
        : 'every port in the project must be different, in every environment',
    });
  }
}

function listText(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
