/** Where the bundled demo project (examples/demo) lives; `gangway demo` runs it, other commands recognise it. */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUNDLED = fileURLToPath(new URL('../../examples/demo/', import.meta.url));

/**
 * The demo's folder: GANGWAY_DEMO_DIR when set (tests run a copy on other ports), else the
 * bundled examples/demo. With a trailing separator.
 */
export function demoDir(env: Record<string, string | undefined>): string {
  return env.GANGWAY_DEMO_DIR ? resolve(env.GANGWAY_DEMO_DIR) + '/' : BUNDLED;
}

/** How to start the orchestrator a project's commands talk to: the demo has its own command. */
export function startCommand(configFile: string | undefined, env: Record<string, string | undefined>): string {
  if (configFile && resolve(configFile, '..') + '/' === demoDir(env)) return '`npm start` in the Gangway folder (or `gangway demo`), which runs the demo';
  return '`gangway up`';
}
