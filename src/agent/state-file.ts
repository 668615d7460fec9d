/**
 * The agent's state file `<stateDir>/agent-state.json`: the instances it runs and the routes it
 * serves, so a restarted agent re-adopts running instances instead of restarting them and
 * reopens its public ports at once. Written atomically (temp file + rename), validated on read.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ReleaseSpec, RouteSpec, InstanceState, PreviewPortChoice } from './types.js';

/** One instance as persisted. `pidStartTime` guards against adopting a reused pid. */
export interface PersistedInstance {
  id: string;
  spec: ReleaseSpec;
  pid: number | null;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), as text. */
  pidStartTime: string | null;
  port: number;
  state: InstanceState;
  startedAt: number;
  readyAt: number | null;
  restarts: number;
  logFile: string;
  /** Creation order, so "newest first" survives a restart of the agent. */
  seq: number;
}

/** The whole file. */
export interface PersistedState {
  version: 1;
  agentPid: number;
  savedAt: number;
  instances: PersistedInstance[];
  routes: RouteSpec[];
  /** The preview ports the agent chose, kept so a preview reopens on the same port after a restart. Absent in older files. */
  previewPorts?: PreviewPortChoice[];
}

const httpExpect = z.object({ status: z.number(), json: z.record(z.string(), z.unknown()).optional(), bodyContains: z.string().optional() });
const releaseSpec = z.object({
  service: z.string(), environment: z.string(), version: z.string(), image: z.string().nullable(),
  command: z.array(z.string()).min(1), cwd: z.string(), env: z.record(z.string(), z.string()),
  health: z.object({ path: z.string(), expect: httpExpect, intervalMs: z.number(), timeoutMs: z.number(), failureThreshold: z.number(), startTimeoutMs: z.number() }),
});
const routeSpec = z.object({
  service: z.string(), environment: z.string(), port: z.number().int(), host: z.string(),
  versions: z.array(z.object({ version: z.string(), weight: z.number() })),
  preview: z.object({ port: z.number().int(), version: z.string() }).nullable(),
  // Optional so state files written before canary routing still load; the proxy checks the values.
  headerRoutes: z.array(z.object({ name: z.string(), value: z.string(), version: z.string() })).optional(),
  sticky: z.object({ cookie: z.string(), ttlMs: z.number() }).nullable().optional(),
  responseTimeoutMs: z.number().optional(),
});
const persistedInstance = z.object({
  id: z.string(), spec: releaseSpec, pid: z.number().int().nullable(), pidStartTime: z.string().nullable(), port: z.number().int(),
  state: z.enum(['starting', 'ready', 'unhealthy', 'crashed', 'stopping', 'stopped']), startedAt: z.number(), readyAt: z.number().nullable(),
  restarts: z.number().int(), logFile: z.string(), seq: z.number().int(),
});
const persistedState = z.object({
  version: z.literal(1), agentPid: z.number().int(), savedAt: z.number(),
  instances: z.array(persistedInstance), routes: z.array(routeSpec),
  previewPorts: z.array(z.object({ service: z.string(), environment: z.string(), port: z.number().int().min(1).max(65535) })).optional(),
});

/** Zod schemas of the API payloads, shared with the control server. */
export const schemas = { releaseSpec, routeSpec } as const;

/**
 * Reads `/proc/<pid>/stat` and returns its process state letter and start time (field 22), or
 * null when no such process exists. A zombie counts as gone: in a container whose PID 1 does not
 * reap, an exited instance lingers as a zombie and must not look alive.
 *
 * @example
 * processInfo(process.pid) // { state: 'R', startTime: '123456' }
 */
export function processInfo(pid: number): { state: string; startTime: string } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '?';
  const startTime = rest[19] ?? '';
  if (state === 'Z' || state === 'X') return null;
  return { state, startTime };
}

/**
 * Whether `pid` is alive and is the same process that was started at `startTime`.
 *
 * @example
 * isSameProcess(1234, '98765') // false once 1234 exited, even if the pid was reused
 */
export function isSameProcess(pid: number, startTime: string | null): boolean {
  const info = processInfo(pid);
  if (!info) return false;
  return startTime === null || info.startTime === startTime;
}

/**
 * Atomic, coalesced writer of the agent state file.
 *
 * @example
 * const file = new StateFile('/repo/.gangway');
 * const previous = await file.load();
 * file.schedule(() => snapshot()); // many calls in a burst → one write
 * await file.flush();
 */
export class StateFile {
  readonly path: string;
  private pending: (() => PersistedState) | null = null;
  private writing: Promise<void> | null = null;
  private onError: (err: unknown) => void;

  constructor(stateDir: string, onError: (err: unknown) => void = () => {}) {
    this.path = path.join(stateDir, 'agent-state.json');
    this.onError = onError;
  }

  /** The previous state, or null when there is none. A corrupt or unknown-version file is reported and treated as none. */
  async load(): Promise<PersistedState | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return persistedState.parse(JSON.parse(text)) as PersistedState;
    } catch (err) {
      this.onError(new Error(`ignoring unreadable agent state file ${this.path}: ${(err as Error).message}`));
      return null;
    }
  }

  /** Asks for a write of the state `snapshot()` returns when the write happens; bursts coalesce into one write. */
  schedule(snapshot: () => PersistedState): void {
    this.pending = snapshot;
    if (!this.writing) this.writing = this.drain();
  }

  /** Resolves once every scheduled write is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes `state` now (used by shutdown to leave an empty file behind). */
  async writeNow(state: PersistedState): Promise<void> {
    await this.flush();
    await this.write(state);
  }

  private async drain(): Promise<void> {
    // Yield once so a burst of synchronous changes becomes one write.
    await new Promise((r) => setImmediate(r));
    try {
      while (this.pending) {
        const snap = this.pending;
        this.pending = null;
        try {
          await this.write(snap());
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async write(state: PersistedState): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    await fsp.rename(tmp, this.path);
  }
}
