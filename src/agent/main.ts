#!/usr/bin/env node
/**
 * Entry point of the agent process: `node dist/agent/main.js --state-dir DIR --metrics-port N
 * [--host H] [--log-file F] [--no-forwarded-headers] [--trust-forwarded ADDR|CIDR]...`.
 * `ensureAgent` (client.ts) starts it detached. Run so, it is the agent's keeper (keeper.ts),
 * which runs the same command with `--worker` as its child: the worker runs `runAgent` with the
 * keeper holding its listening sockets. `gangway agent` runs `runAgent` in the foreground.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { trustEntryProblem } from './forwarded.js';
import { HeldSockets } from './held-sockets.js';
import { runKeeper } from './keeper.js';

/** Parsed command line of the agent process. */
export interface AgentArgs {
  stateDir: string;
  metricsPort: number;
  host?: string;
  logFile?: string;
  /** `--no-forwarded-headers` sets it to false. */
  forwardedHeaders?: boolean;
  /** One `--trust-forwarded` per entry, in order. */
  trustForwarded?: string[];
  /** `--worker`: run as the keeper's worker (set by the keeper, not by hand). */
  worker?: boolean;
}

/**
 * Parses the agent's argv (without node and the script).
 *
 * @example
 * parseAgentArgs(['--state-dir', '.gangway', '--metrics-port', '9464'])
 * // { stateDir: '.gangway', metricsPort: 9464 }
 */
export function parseAgentArgs(argv: string[]): AgentArgs {
  const out: Partial<AgentArgs> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--state-dir': out.stateDir = value(); break;
      case '--metrics-port': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--metrics-port must be a port number (0-65535), got ${JSON.stringify(v)}`);
        out.metricsPort = n;
        break;
      }
      case '--host': out.host = value(); break;
      case '--log-file': out.logFile = value(); break;
      case '--worker':
        if (inline !== undefined) throw new Error(`${flag} takes no value`);
        out.worker = true;
        break;
      case '--no-forwarded-headers':
        if (inline !== undefined) throw new Error(`${flag} takes no value`);
        out.forwardedHeaders = false;
        break;
      case '--trust-forwarded': {
        const v = value();
        const problem = trustEntryProblem(v);
        if (problem !== null) throw new Error(`--trust-forwarded: ${problem}`);
        (out.trustForwarded ??= []).push(v);
        break;
      }
      default: throw new Error(`unknown option ${JSON.stringify(argv[i])}`);
    }
  }
  if (!out.stateDir) throw new Error('--state-dir is required');
  if (out.metricsPort === undefined) throw new Error('--metrics-port is required');
  return out as AgentArgs;
}

async function main(): Promise<void> {
  let args: AgentArgs;
  try {
    args = parseAgentArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`gangway agent: ${(err as Error).message}\nusage: main.js --state-dir DIR --metrics-port N [--host H] [--log-file F] [--no-forwarded-headers] [--trust-forwarded ADDR|CIDR]...`);
    process.exit(2);
  }
  if (!args.worker) {
    // The keeper: the worker is this same script with --worker.
    const keeper = runKeeper({ mainScript: fileURLToPath(import.meta.url), workerArgs: process.argv.slice(2) });
    const pass = () => keeper.stop();
    process.once('SIGTERM', pass);
    process.once('SIGINT', pass);
    process.exit(await keeper.done);
  }
  try {
    // Loaded here, not above: the keeper runs none of the agent's own code.
    const { runAgent } = await import('./agent.js');
    await runAgent({ ...args, held: await HeldSockets.fromKeeper() });
  } catch (err) {
    const e = err as Error & { hint?: string };
    console.error(`gangway agent: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
