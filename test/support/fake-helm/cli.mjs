/**
 * The command line of the FAKE `helm`: Helm 3's argv shapes (cobra commands, pflag flags —
 * `--flag value`, `--flag=value`, `-n value`, `-nvalue`, bools without a value, flags before or
 * after the arguments, `--` ending flags), its outputs (`-o json` as Helm's JSON encoder writes
 * it, the table forms of `upgrade`, `status` and `history`) and its errors (`Error: …` on
 * stderr, exit code 1). Supported: `upgrade [--install]`, `rollback`, `status`, `history`,
 * `version`, with the flags listed in README.md; any other command or flag is an error naming
 * it, so a test cannot lean on behaviour the fake lacks.
 */
import { exists, history, install, rollback, status, upgrade } from './actions.mjs';
import { loadChart, locateChart, postRenderer } from './chart.mjs';
import { HelmError, wrap } from './errors.mjs';
import { ansic, encodeHistory, encodeRelease, parseDuration } from './go-json.mjs';
import { connect, kubeSettings } from './kube.mjs';
import { SecretsDriver, Storage } from './storage.mjs';
import { mergeValueFlags } from './values.mjs';

/** The version this fake reports (Helm v3.16.2's build info). */
export const BUILD_INFO = {
  Version: process.env.FAKE_HELM_VERSION || 'v3.16.2',
  GitCommit: '13654a52f7c70a143b1dd51416d633e1071faffb',
  GitTreeState: 'clean',
  GoVersion: 'go1.22.7',
};

const GLOBAL_FLAGS = [
  { name: 'kubeconfig', type: 'string' },
  { name: 'kube-context', type: 'string' },
  { name: 'namespace', short: 'n', type: 'string' },
  { name: 'debug', type: 'bool' },
];

const OUTPUT = { name: 'output', short: 'o', type: 'output', default: 'table' };
const TIMEOUT = { name: 'timeout', type: 'duration', default: 300_000 };
const HISTORY_MAX = { name: 'history-max', type: 'int', default: Number(process.env.HELM_MAX_HISTORY) || 10 };

const COMMANDS = {
  upgrade: {
    use: 'helm upgrade [RELEASE] [CHART] [flags]',
    args: { exact: 2 },
    flags: [
      { name: 'install', short: 'i', type: 'bool' },
      { name: 'values', short: 'f', type: 'stringSlice' },
      { name: 'set', type: 'stringArray' },
      { name: 'set-string', type: 'stringArray' },
      { name: 'wait', type: 'bool' },
      TIMEOUT,
      { name: 'atomic', type: 'bool' },
      OUTPUT,
      { name: 'description', type: 'string' },
      { name: 'reset-values', type: 'bool' },
      { name: 'reuse-values', type: 'bool' },
      HISTORY_MAX,
      { name: 'create-namespace', type: 'bool' },
      { name: 'post-renderer', type: 'string' },
      { name: 'post-renderer-args', type: 'stringArray' },
    ],
    run: runUpgrade,
  },
  rollback: {
    use: 'helm rollback <RELEASE> [REVISION] [flags]',
    args: { min: 1 },
    flags: [{ name: 'wait', type: 'bool' }, TIMEOUT, HISTORY_MAX],
    run: runRollback,
  },
  status: {
    use: 'helm status RELEASE_NAME [flags]',
    args: { exact: 1 },
    flags: [OUTPUT, { name: 'revision', type: 'int', default: 0 }, { name: 'show-desc', type: 'bool' }],
    run: runStatus,
  },
  history: {
    use: 'helm history RELEASE_NAME [flags]',
    args: { exact: 1 },
    flags: [OUTPUT, { name: 'max', type: 'int', default: 256 }],
    run: runHistory,
  },
  version: {
    use: 'helm version [flags]',
    args: { exact: 0 },
    flags: [{ name: 'short', type: 'bool' }],
    run: runVersion,
  },
};
COMMANDS.hist = COMMANDS.history;

/** Helm 3 commands the fake does not have. */
const KNOWN_ELSEWHERE = new Set(['completion', 'create', 'dependency', 'dep', 'env', 'get', 'help', 'install', 'lint', 'list', 'ls', 'package', 'plugin', 'pull', 'fetch', 'push', 'registry', 'repo', 'search', 'show', 'inspect', 'template', 'test', 'uninstall', 'un', 'del', 'delete', 'verify']);

/**
 * Where the command word of an argv is, skipping global flags before it as cobra does
 * (`helm -n shop status web` → 2); -1 when there is none.
 */
export function commandIndex(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-') || a === '-') return i;
    if (a.includes('=')) continue;
    const spec = a.startsWith('--') ? GLOBAL_FLAGS.find((f) => f.name === a.slice(2)) : GLOBAL_FLAGS.find((f) => f.short === a.slice(1));
    if (spec && spec.type !== 'bool') i++;
  }
  return -1;
}

function flagLabel(spec) {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

function setFlag(values, spec, raw) {
  const bad = (why) => new HelmError(`invalid argument ${JSON.stringify(raw)} for ${JSON.stringify(flagLabel(spec))} flag: ${why}`);
  switch (spec.type) {
    case 'bool': {
      const v = { true: true, t: true, TRUE: true, True: true, T: true, 1: true, false: false, f: false, FALSE: false, False: false, F: false, 0: false }[raw];
      if (v === undefined) throw bad(`strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
      values[spec.name] = v;
      return;
    }
    case 'int':
      if (!/^[+-]?[0-9]+$/.test(raw)) throw bad(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
      values[spec.name] = Number(raw);
      return;
    case 'duration':
      try { values[spec.name] = parseDuration(raw); } catch (err) { throw bad(err.message); }
      return;
    case 'output':
      if (raw === 'yaml') throw new HelmError('the fake helm does not print YAML (-o yaml); use -o json or the table output');
      if (raw !== 'table' && raw !== 'json') throw bad('invalid format type');
      values[spec.name] = raw;
      return;
    case 'stringSlice':
      // pflag's StringSlice reads its value as one CSV record.
      values[spec.name] = [...(values[spec.name] ?? []), ...(raw === '' ? [] : raw.split(','))];
      return;
    case 'stringArray':
      values[spec.name] = [...(values[spec.name] ?? []), raw];
      return;
    default:
      values[spec.name] = raw;
  }
}

/** pflag-style parsing of `args` against `specs`: `{ values, positional }`. */
export function parseFlags(args, specs, command) {
  const values = {};
  for (const s of specs) if (s.default !== undefined) values[s.name] = s.default;
  const positional = [];
  const unknown = (what) => new HelmError(`${what} (the fake helm's "${command}" supports only ${specs.map((s) => `--${s.name}`).join(', ')})`);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') { positional.push(...args.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw unknown(`unknown flag: --${name}`);
      if (eq >= 0) setFlag(values, spec, a.slice(eq + 1));
      else if (spec.type === 'bool') values[spec.name] = true;
      else if (i + 1 < args.length) setFlag(values, spec, args[++i]);
      else throw new HelmError(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      let j = 1;
      while (j < a.length) {
        const c = a[j];
        const spec = specs.find((s) => s.short === c);
        if (!spec) throw unknown(`unknown shorthand flag: '${c}' in ${a}`);
        if (spec.type === 'bool') {
          if (a[j + 1] === '=') { setFlag(values, spec, a.slice(j + 2)); break; }
          values[spec.name] = true;
          j++;
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest !== '') setFlag(values, spec, rest.startsWith('=') ? rest.slice(1) : rest);
        else if (i + 1 < args.length) setFlag(values, spec, args[++i]);
        else throw new HelmError(`flag needs an argument: '${c}' in -${c}`);
        break;
      }
      continue;
    }
    positional.push(a);
  }
  return { values, positional };
}

function checkArgs(cmdName, cmd, positional) {
  const plural = (n) => (n === 1 ? 'argument' : 'arguments');
  if (cmd.args.exact !== undefined && positional.length !== cmd.args.exact) {
    if (cmd.args.exact === 0) throw new HelmError(`unknown command ${JSON.stringify(positional[0])} for "helm ${cmdName}"`);
    throw new HelmError(`"helm ${cmdName}" requires ${cmd.args.exact} ${plural(cmd.args.exact)}\n\nUsage:  ${cmd.use}`);
  }
  if (cmd.args.min !== undefined && positional.length < cmd.args.min) {
    throw new HelmError(`"helm ${cmdName}" requires at least ${cmd.args.min} ${plural(cmd.args.min)}\n\nUsage:  ${cmd.use}`);
  }
}

/** The table form of a release (cmd/helm/status.go `statusPrinter.WriteTable`). */
function statusTable(rel, showDescription) {
  let out = `NAME: ${rel.name}\n`;
  if (rel.info.last_deployed) out += `LAST DEPLOYED: ${ansic(rel.info.last_deployed)}\n`;
  out += `NAMESPACE: ${rel.namespace}\nSTATUS: ${rel.info.status}\nREVISION: ${rel.version}\n`;
  if (showDescription) out += `DESCRIPTION: ${rel.info.description ?? ''}\n`;
  out += 'TEST SUITE: None\n';
  if (rel.info.notes) out += `NOTES:\n${rel.info.notes.trim()}\n`;
  return out;
}

/** gosuri/uitable with MaxColWidth 60: cells padded to their column, `\t` between, long ones cut with "...". */
function uitable(rows) {
  const widths = rows[0].map((_, c) => Math.min(60, Math.max(...rows.map((r) => [...String(r[c])].length))));
  const cell = (v, w) => {
    let s = String(v);
    if ([...s].length > w) s = `${[...s].slice(0, Math.max(0, w - 3)).join('')}...`;
    return s + ' '.repeat(Math.max(0, w - [...s].length));
  };
  return `${rows.map((r) => r.map((v, c) => cell(v, widths[c])).join('\t')).join('\n')}\n`;
}

function releaseOutput(rel, format) {
  return format === 'json' ? `${encodeRelease(rel)}\n` : statusTable(rel, false);
}

async function session(g) {
  const settings = kubeSettings({ kubeconfig: g.kubeconfig, kubeContext: g['kube-context'], namespace: g.namespace });
  const kube = await connect(settings);
  return { kube, storage: new Storage(new SecretsDriver(kube, settings.namespace)), namespace: settings.namespace };
}

/** Installs SIGINT/SIGTERM handlers that print Helm's line and abort; returns the signal. */
function cancellation(io, name) {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) return;
    io.stdout(`Release ${name} has been cancelled.\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac.signal;
}

/** What Helm does before running an install or upgrade: locate the chart, merge the values, load the chart. */
function chartAndValues(v, chartRef) {
  const path = locateChart(chartRef);
  const config = mergeValueFlags({ valueFiles: v.values ?? [], values: v.set ?? [], stringValues: v['set-string'] ?? [] });
  return { chart: loadChart(path), config };
}

/**
 * `--post-renderer` and `--post-renderer-args` as Helm's flag values resolve them while the
 * flags are parsed (cmd/helm/flags.go `postRendererString.Set`): the binary is looked up
 * (`postrender.NewExec`) and a missing one is a flag error.
 */
function postRenderOption(v) {
  const binary = v['post-renderer'];
  if (binary === undefined || binary === '') return undefined;
  try {
    return postRenderer(binary, v['post-renderer-args'] ?? []);
  } catch (err) {
    throw new HelmError(`invalid argument ${JSON.stringify(binary)} for "--post-renderer" flag: ${err.message}`);
  }
}

async function runUpgrade(v, [name, chartRef], io) {
  const post = postRenderOption(v);
  let ctx;
  if (v.install) {
    // `upgrade --install` asks the cluster for the release's history before anything else.
    ctx = await session(v);
    if (!(await exists(ctx, name))) {
      if (v.output === 'table') io.stdout(`Release ${JSON.stringify(name)} does not exist. Installing it now.\n`);
      const { chart, config } = chartAndValues(v, chartRef);
      const rel = await install({ ...ctx, signal: cancellation(io, name) }, {
        name, chart, config, wait: v.wait, timeoutMs: v.timeout, atomic: v.atomic, description: v.description, createNamespace: v['create-namespace'], postRenderer: post,
      });
      io.stdout(releaseOutput(rel, v.output));
      return;
    }
  }
  const { chart, config } = chartAndValues(v, chartRef);
  let rel;
  try {
    ctx ??= await session(v);
    rel = await upgrade({ ...ctx, signal: cancellation(io, name) }, {
      name, chart, config, wait: v.wait, timeoutMs: v.timeout, atomic: v.atomic, description: v.description,
      resetValues: v['reset-values'], reuseValues: v['reuse-values'], maxHistory: v['history-max'], postRenderer: post,
    });
  } catch (err) {
    throw wrap(err, 'UPGRADE FAILED');
  }
  if (v.output === 'table') io.stdout(`Release ${JSON.stringify(name)} has been upgraded. Happy Helming!\n`);
  io.stdout(releaseOutput(rel, v.output));
}

async function runRollback(v, [name, revision], io) {
  let version = 0;
  if (revision !== undefined) {
    if (!/^[+-]?[0-9]+$/.test(revision)) throw new HelmError(`could not convert revision to a number: strconv.Atoi: parsing ${JSON.stringify(revision)}: invalid syntax`);
    version = Number(revision);
  }
  const ctx = await session(v);
  await rollback(ctx, { name, version, wait: v.wait, timeoutMs: v.timeout, maxHistory: v['history-max'] });
  io.stdout('Rollback was a success! Happy Helming!\n');
}

async function runStatus(v, [name], io) {
  const ctx = await session(v);
  const rel = await status(ctx, { name, revision: v.revision });
  io.stdout(v.output === 'json' ? `${encodeRelease(rel)}\n` : statusTable(rel, v['show-desc']));
}

async function runHistory(v, [name], io) {
  const ctx = await session(v);
  const rows = await history(ctx, { name, max: v.max });
  if (v.output === 'json') { io.stdout(`${encodeHistory(rows)}\n`); return; }
  io.stdout(uitable([['REVISION', 'UPDATED', 'STATUS', 'CHART', 'APP VERSION', 'DESCRIPTION'], ...rows.map((r) => [r.revision, ansic(r.updated), r.status, r.chart, r.app_version, r.description])]));
}

async function runVersion(v, _args, io) {
  const b = BUILD_INFO;
  if (v.short) { io.stdout(`${b.Version}+g${b.GitCommit.slice(0, 7)}\n`); return; }
  io.stdout(`version.BuildInfo{Version:${JSON.stringify(b.Version)}, GitCommit:${JSON.stringify(b.GitCommit)}, GitTreeState:${JSON.stringify(b.GitTreeState)}, GoVersion:${JSON.stringify(b.GoVersion)}}\n`);
}

/**
 * Runs one `helm` invocation; resolves to the exit code. `io.stdout`/`io.stderr` write text.
 */
export async function main(argv, io) {
  try {
    const i = commandIndex(argv);
    const name = argv[i];
    if (i < 0) throw new HelmError('the fake helm needs a command (upgrade, rollback, status, history or version)');
    const cmd = COMMANDS[name];
    if (!cmd) {
      if (KNOWN_ELSEWHERE.has(name) || name.startsWith('-')) throw new HelmError(`the fake helm does not support "helm ${name}"`);
      throw new HelmError(`unknown command ${JSON.stringify(name)} for "helm"\nRun 'helm --help' for usage.`);
    }
    const rest = [...argv.slice(0, i), ...argv.slice(i + 1)];
    const { values, positional } = parseFlags(rest, [...GLOBAL_FLAGS, ...cmd.flags], name === 'hist' ? 'history' : name);
    checkArgs(name, cmd, positional);
    await cmd.run(values, positional, io);
    return 0;
  } catch (err) {
    if (err instanceof HelmError) {
      io.stderr(`Error: ${err.message}\n`);
      return 1;
    }
    io.stderr(`Error: ${err?.message ?? String(err)}\n(fake helm: unexpected failure)\n${err?.stack ?? ''}\n`);
    return 1;
  }
}
