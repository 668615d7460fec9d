/**
 * The `gangway` command line. `main` parses, runs one command and returns its exit code:
 * 0 done; 1 unexpected error; 2 invalid input; 3 blocked by a gate; 4 the deployment
 * failed; 5 orchestrator unreachable.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CliContext, CliIO } from './context.js';
import { createContext, exitCodeFor, reportError } from './context.js';
import { registerAbort } from './commands/abort.js';
import { registerAgent } from './commands/agent.js';
import { registerDemo } from './commands/demo.js';
import { registerDeploy } from './commands/deploy.js';
import { registerDown } from './commands/down.js';
import { registerHistory } from './commands/history.js';
import { registerLogs } from './commands/logs.js';
import { registerPlan } from './commands/plan.js';
import { registerPromote } from './commands/promote.js';
import { registerRetry } from './commands/retry.js';
import { registerRollback } from './commands/rollback.js';
import { registerSchema } from './commands/schema.js';
import { registerStatus } from './commands/status.js';
import { registerUp } from './commands/up.js';
import { registerValidate } from './commands/validate.js';
import { registerApprove } from './commands/approve.js';
import { registerConfirm } from './commands/confirm.js';
import { registerFreeze } from './commands/freeze.js';
import { registerFreezes } from './commands/freezes.js';
import { registerReject } from './commands/reject.js';
import { registerUnfreeze } from './commands/unfreeze.js';
import { registerAudit } from './commands/audit.js';
import { registerUser } from './commands/user.js';
import { registerToken } from './commands/token.js';

/** Builds the commander program with every command registered against `ctx`. */
export function buildProgram(ctx: CliContext, program = new Command()): Command {
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

  for (const register of [
    registerUp, registerDemo, registerDeploy, registerStatus, registerHistory, registerPlan, registerRollback,
    registerPromote, registerRetry, registerAbort, registerLogs, registerValidate, registerSchema, registerDown, registerAgent,
    registerApprove, registerReject, registerConfirm, registerFreeze, registerUnfreeze, registerFreezes,
    registerAudit,
    registerUser, registerToken,
  ]) register(program, ctx);
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
  buildProgram(ctx, program);
  try {
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
