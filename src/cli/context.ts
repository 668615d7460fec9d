/**
 * What every CLI command receives: output writers, the global options, and lazily loaded
 * config and API client. Commands never touch process.stdout/env directly, so tests run
 * `main()` in-process with their own writers and environment.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { GangwayConfig } from '../config/types.js';
import { findConfigFile } from '../config/find.js';
import { GangwayError, exitCodeOf } from '../errors.js';
import { GANGWAY_VERSION } from '../version.js';
import { ApiClient } from './client.js';
import { startCommand } from './demo-dir.js';
import { toJson } from './output.js';
import { readToken, tokenPath } from './token.js';

/** Where output goes; process.stdout satisfies it. */
export interface Writer {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** The process surroundings of one CLI run; every field defaults to the real process. */
export interface CliIO {
  stdout: Writer;
  stderr: Writer;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Ends `status --watch` (and other long waits); defaults to Ctrl-C. */
  signal?: AbortSignal;
  /** Interval of `--wait` polling, default 500 ms. */
  pollMs: number;
  /** Interval of `status --watch` redraws, default 1000 ms. */
  refreshMs: number;
  /** Where `--password-stdin` reads from; defaults to process.stdin. */
  stdin?: AsyncIterable<string | Uint8Array>;
}

/** The program-level options, as given on the command line. */
export interface GlobalOptions {
  /** Absolute project folder (`-C`). */
  dir: string;
  /** Config file (`-c`), absolute, if given. */
  config?: string;
  output: 'text' | 'json';
  api?: string;
}

/**
 * The context handed to `registerX(program, ctx)`. Config and client are loaded on first
 * use, so `gangway --help` and local commands work without a config or an orchestrator.
 */
export interface CliContext {
  readonly io: CliIO;
  readonly stdout: Writer;
  readonly stderr: Writer;
  /** Gangway's own version. */
  readonly version: string;
  /** Global options; valid once commander has parsed the command line. */
  globals(): GlobalOptions;
  /** True with `-o json`. */
  json(): boolean;
  /** The config file to use: `-c`, or the one found in the project folder. Throws `invalid_config` when there is none. */
  configFile(): string;
  /** Loads (once) and returns the compiled config. */
  config(): Promise<GangwayConfig>;
  /** The API client: `--api`/GANGWAY_API or the config's server address; GANGWAY_TOKEN or `<stateDir>/token`. */
  client(): Promise<ApiClient>;
  /** Who the CLI acts for: GANGWAY_ACTOR or the login name. */
  actor(): string;
  /** Aborted on Ctrl-C (or by the test's signal). Installs the Ctrl-C handler on first call. */
  interrupted(): AbortSignal;
  /** Writes `text` to stdout. */
  out(text: string): void;
  /** Writes `text` to stderr. */
  err(text: string): void;
  /** Writes a value as JSON to stdout. */
  printJson(value: unknown): void;
  /** Releases what the run holds (the Ctrl-C handler). */
  dispose(): void;
}

/**
 * A command's registration function, as every file in src/cli/commands exports one.
 *
 * @example
 * export const registerSchema: RegisterCommand = (program, ctx) => {
 *   program.command('schema').action(action(ctx, async () => { ctx.printJson(configJsonSchema()); return 0; }));
 * };
 */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** The base URL a client should use for a server bound to `host:port`. */
export function apiUrlFor(host: string, port: number): string {
  // A server listening on every address is reached on loopback.
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** Creates the context of one run; `program` is read for the global options after parsing. */
export function createContext(program: Command, io: CliIO): CliContext {
  let configPromise: Promise<GangwayConfig> | undefined;
  let clientPromise: Promise<ApiClient> | undefined;
  let sigint: { controller: AbortController; handler: () => void } | undefined;
  let active: Command = program;
  program.hook('preAction', (_program, actionCommand) => { active = actionCommand; });

  const ctx: CliContext = {
    io,
    stdout: io.stdout,
    stderr: io.stderr,
    version: GANGWAY_VERSION,
    globals() {
      // Global options may come before the command (program's) or after it (the command's copy); the latter wins.
      type Globals = { dir?: string; config?: string; output?: 'text' | 'json'; api?: string };
      const before = program.opts<Globals>();
      const after = active === program ? {} : active.opts<Globals>();
      const o: Globals = { dir: after.dir ?? before.dir, config: after.config ?? before.config, output: after.output ?? before.output, api: after.api ?? before.api };
      const dir = resolve(io.cwd, o.dir ?? '.');
      return { dir, config: o.config ? resolve(io.cwd, o.config) : undefined, output: o.output ?? 'text', api: o.api ?? io.env.GANGWAY_API };
    },
    json() { return ctx.globals().output === 'json'; },
    configFile() {
      const g = ctx.globals();
      if (g.config) return g.config;
      const found = findConfigFile(g.dir);
      if (!found) {
        throw new GangwayError('invalid_config', `no gangway.yaml in ${g.dir}`,
          'run gangway in your project folder, or pass -C <folder> or -c <file>');
      }
      return found;
    },
    config() {
      // The YAML parser and the schema load on first use: `--version` and `--help` never need them.
      configPromise ??= Promise.resolve().then(async () => {
        const file = ctx.configFile();
        const { loadConfig } = await import('../config/load.js');
        return loadConfig(file);
      });
      return configPromise;
    },
    client() {
      clientPromise ??= (async () => {
        const g = ctx.globals();
        const envToken = io.env.GANGWAY_TOKEN || undefined;
        // With both the address and the token given, a CI job needs no config file at all.
        const config = g.api && envToken ? undefined : await ctx.config();
        const baseUrl = g.api ?? apiUrlFor(config!.server.host, config!.server.port);
        const token = envToken ?? (config ? readToken(config.stateDir) : undefined);
        return new ApiClient({
          baseUrl, token, tokenSource: config ? tokenPath(config.stateDir) : undefined, actor: ctx.actor(),
          startCommand: startCommand(config ? ctx.configFile() : undefined, io.env),
        });
      })();
      return clientPromise;
    },
    actor() {
      if (io.env.GANGWAY_ACTOR) return io.env.GANGWAY_ACTOR;
      try {
        return userInfo().username;
      } catch {
        // No passwd entry (some containers): the API still needs a name to record.
        return 'cli';
      }
    },
    interrupted() {
      if (io.signal) return io.signal;
      if (!sigint) {
        const controller = new AbortController();
        // Kept for the whole run, not once: `npm start` forwards the terminal's Ctrl-C to its child, so
        // the demo sees it twice, and a second one must not kill it half-way through its clean-up. A
        // third Ctrl-C insists: exit at once.
        let count = 0;
        const handler = () => {
          controller.abort();
          if (++count >= 3) process.exit(130);
        };
        process.on('SIGINT', handler);
        sigint = { controller, handler };
      }
      return sigint.controller.signal;
    },
    out(text) { io.stdout.write(text); },
    err(text) { io.stderr.write(text); },
    printJson(value) { io.stdout.write(toJson(value)); },
    dispose() {
      if (sigint) {
        // The command has finished its clean-up; the process may still be draining its last
        // handles. A Ctrl-C that arrives now (npm forwards the terminal's a moment later) ends
        // it at once instead of killing it by the signal, which would read as an interrupted run.
        // The new listener goes in before the old one goes out: with none at all, even for a
        // moment, Node restores the default action and that Ctrl-C would kill the process.
        if (process.listenerCount('SIGINT') === 1) process.once('SIGINT', exitInterrupted);
        process.removeListener('SIGINT', sigint.handler);
      }
      sigint = undefined;
    },
  };
  return ctx;
}

function exitInterrupted(): void {
  process.exit(130);
}

/**
 * Prints an error the way every command does: `error: <message>` and `hint: <hint>` on
 * stderr, and with `-o json` the API error body on stdout. Returns the exit code.
 */
export function reportError(ctx: CliContext, err: unknown): number {
  let json = false;
  try { json = ctx.json(); } catch { /* options not parsed yet: text */ }
  if (err instanceof GangwayError) {
    ctx.err(`error: ${err.message}\n`);
    if (err.hint) ctx.err(`hint: ${err.hint}\n`);
    if (json) ctx.printJson({ error: { code: err.code, message: err.message, hint: err.hint, details: err.details } });
    return exitCodeOf(err.code);
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.err(`error: ${message}\n`);
  if (ctx.io.env.GANGWAY_DEBUG && err instanceof Error && err.stack) ctx.err(`${err.stack}\n`);
  if (json) ctx.printJson({ error: { code: 'internal', message } });
  return 1;
}

/** Where a command's exit code is kept until main() returns it. */
const exitCodes = new WeakMap<CliContext, number>();

/** The exit code the last action set (0 when none ran). */
export function exitCodeFor(ctx: CliContext): number {
  return exitCodes.get(ctx) ?? 0;
}

/**
 * Wraps a command body for commander: its resolved number becomes the exit code, and a
 * thrown error is reported by {@link reportError}.
 *
 * @example
 * program.command('down').action(action(ctx, async () => { ...; return 0; }));
 */
export function action<A extends unknown[]>(ctx: CliContext, run: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      exitCodes.set(ctx, await run(...args));
    } catch (err) {
      exitCodes.set(ctx, reportError(ctx, err));
    }
  };
}
