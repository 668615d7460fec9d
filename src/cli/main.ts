/**
 * The `gangway` command line. `main` parses, runs one command and returns its exit code:
 * 0 done; 1 unexpected error; 2 invalid input; 3 blocked by a gate; 4 the deployment
 * failed; 5 orchestrator unreachable; 6 a platform behind it (cluster, agent) unreachable.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CliContext, CliIO, RegisterCommand } from './context.js';
import { createContext, exitCodeFor, reportError } from './context.js';

/**
 * Every command, in the order `--help` lists them, with its module loaded on demand: a run
 * imports only the command it runs (and `--version` none), so start-up does not pay for the
 * HTTP server, the store or the config schema when the command does not use them.
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<RegisterCommand>]> = [
  ['up', async () => (await import('./commands/up.js')).registerUp],
  ['demo', async () => (await import('./commands/demo.js')).registerDemo],
  ['deploy', async () => (await import('./commands/deploy.js')).registerDeploy],
  ['status', async () => (await import('./commands/status.js')).registerStatus],
  ['history', async () => (await import('./commands/history.js')).registerHistory],
  ['plan', async () => (await import('./commands/plan.js')).registerPlan],
  ['rollback', async () => (await import('./commands/rollback.js')).registerRollback],
  ['promote', async () => (await import('./commands/promote.js')).registerPromote],
  ['retry', async () => (await import('./commands/retry.js')).registerRetry],
  ['abort', async () => (await import('./commands/abort.js')).registerAbort],
  ['logs', async () => (await import('./commands/logs.js')).registerLogs],
  ['validate', async () => (await import('./commands/validate.js')).registerValidate],
  ['schema', async () => (await import('./commands/schema.js')).registerSchema],
  ['down', async () => (await import('./commands/down.js')).registerDown],
  ['agent', async () => (await import('./commands/agent.js')).registerAgent],
  ['approve', async () => (await import('./commands/approve.js')).registerApprove],
  ['reject', async () => (await import('./commands/reject.js')).registerReject],
  ['confirm', async () => (await import('./commands/confirm.js')).registerConfirm],
  ['freeze', async () => (await import('./commands/freeze.js')).registerFreeze],
  ['unfreeze', async () => (await import('./commands/unfreeze.js')).registerUnfreeze],
  ['freezes', async () => (await import('./commands/freezes.js')).registerFreezes],
  ['audit', async () => (await import('./commands/audit.js')).registerAudit],
  ['user', async () => (await import('./commands/user.js')).registerUser],
  ['token', async () => (await import('./commands/token.js')).registerToken],
  ['autodeploy', async () => (await import('./commands/autodeploy.js')).registerAutoDeploy],
];

/** Program options that take a value, so the word after them is not the command's name. */
const VALUE_OPTIONS = new Set(['-C', '--dir', '-c', '--config', '-o', '--output', '--api']);

/**
 * The commands a command line needs registered: the one it names; none for a bare
 * `--version`; every one for help, usage errors and unknown names (so commander can list
 * them or suggest one).
 *
 * @example
 * commandsFor(['node', 'gangway', '-C', 'shop', 'status']) // ['status']
 */
export function commandsFor(argv: readonly string[]): string[] {
  const all = COMMANDS.map(([name]) => name);
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (VALUE_OPTIONS.has(a)) { i++; continue; }
    if (a.startsWith('-')) continue;
    return all.includes(a) ? [a] : all;
  }
  const versionOnly = args.some((a) => a === '-V' || a === '--version') && !args.some((a) => a === '-h' || a === '--help');
  return versionOnly ? [] : all;
}

/** Builds the commander program with the named commands (default: every one) registered against `ctx`. */
export async function buildProgram(ctx: CliContext, program = new Command(), names: readonly string[] = COMMANDS.map(([name]) => name)): Promise<Command> {
  program
    .name('gangway')
    .description('Deploy, verify, promote and roll back releases, as your runbook says.')
    .version(ctx.version, '-V, --version')
    // Without positional options the program would take `deploy --version 1.2` as its own --version.
    .enablePositionalOptions()
    .showHelpAfterError('(run gangway --help for usage)')
    // Commander must not exit the process: main() returns the code, so tests can run in-process.
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s) });

  const wanted = COMMANDS.filter(([name]) => names.includes(name));
  for (const register of await Promise.all(wanted.map(([, load]) => load()))) register(program, ctx);
  addGlobalOptions(program);
  // Every command accepts the global options after its name too (`gangway status -o json`).
  for (const command of program.commands) addGlobalOptions(command);
  return program;
}

function addGlobalOptions(command: Command): void {
  // No defaults here: an unset option after the command must not hide one given before it; context.ts applies them.
  command
    .option('-C, --dir <path>', 'project folder (default: the current folder)')
    .option('-c, --config <file>', 'config file (default: gangway.yaml in the project folder or above)')
    .addOption(new Option('-o, --output <format>', 'output format (default: text)').choices(['text', 'json']))
    .option('--api <url>', 'orchestrator API address (default: GANGWAY_API, or server.host:port from the config)');
}

/**
 * Runs the CLI. `argv` is in process.argv form (`[node, script, ...args]`). Every field of
 * `io` defaults to the real process; tests pass their own writers and environment.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(argv: string[], io: Partial<CliIO> = {}): Promise<number> {
  if (!io.stdout) ignoreWriteErrors(process.stdout);
  if (!io.stderr) ignoreWriteErrors(process.stderr);
  const full: CliIO = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    signal: io.signal,
    pollMs: io.pollMs ?? 500,
    refreshMs: io.refreshMs ?? 1000,
    stdin: io.stdin,
  };
  const program = new Command();
  const ctx = createContext(program, full);
  try {
    await buildProgram(ctx, program, commandsFor(argv));
    await program.parseAsync(argv, { from: 'node' });
    return exitCodeFor(ctx);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // Usage mistakes: unknown command or option, missing argument or --env, bad choice.
      return 2;
    }
    return reportError(ctx, err);
  } finally {
    ctx.dispose();
  }
}

const guarded = new WeakSet<NodeJS.WritableStream>();

/**
 * Output must never stop a command half-way: when stdout or stderr is a pipe that closed
 * (`gangway demo | tee log`, then Ctrl-C ends tee first), a write fails with EPIPE, and an
 * unhandled stream error would kill the process before its Ctrl-C clean-up ran. Write errors
 * are dropped instead; what is left to say has nowhere to go anyway.
 */
function ignoreWriteErrors(stream: NodeJS.WritableStream): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', () => undefined);
}
