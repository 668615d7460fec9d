import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { Supervisor, type SupervisorEvent, type SupervisorOptions } from './supervisor.js';
import { APP, alive, appSpec, get, killHard, waitFor } from '../../test/fixtures/agent-helpers.js';

let stateDir: string;
let sups: Supervisor[];
let events: SupervisorEvent[];
const pids = new Set<number>();

function newSupervisor(opts: Partial<SupervisorOptions> = {}): Supervisor {
  const sup = new Supervisor({
    stateDir,
    killTimeoutMs: 1000,
    restartBackoff: { initialMs: 100 },
    ...opts,
    onEvent: (e) => {
      events.push(e);
      if (e.instance.pid !== null) pids.add(e.instance.pid);
      opts.onEvent?.(e);
    },
  });
  sups.push(sup);
  return sup;
}

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-sup-'));
  sups = [];
  events = [];
});

afterEach(async () => {
  for (const s of sups) await s.stopAll(0).catch(() => {});
  for (const pid of pids) killHard(pid);
  pids.clear();
  // Retries: an instance that just exited may still be appending its last log line.
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

const readyCount = (sup: Supervisor) => sup.instances().filter((i) => i.state === 'ready').length;

describe('Supervisor.scale', () => {
  it('starts exactly the requested instances on distinct ports with a minimal environment, and reports them ready', async () => {
    const sup = newSupervisor();
    const started = await sup.scale(appSpec({ env: { APP_EXTRA: 'x' } }), 2, 1000);
    expect(started).toHaveLength(2);
    expect(new Set(started.map((i) => i.port)).size).toBe(2);
    expect(started[0]!.id).toMatch(/^web-dev-1\.0\.0-[0-9a-f]{6}$/);

    await waitFor('two ready instances', () => readyCount(sup) === 2);
    // Each started as `starting` and became ready on a passing check (the first may be ready
    // before the second has started, so scale's answer can show either state).
    for (const { id } of started) {
      const states = events.filter((e) => e.kind === 'state' && e.instance.id === id).map((e) => e.instance);
      expect(states.slice(0, 2).map((i) => i.state)).toEqual(['starting', 'ready']);
      expect(states[1]!.readyAt).not.toBeNull();
      expect(states[1]!.lastHealth).toMatchObject({ ok: true, detail: 'status 200' });
    }
    const ready = sup.ready('web', 'dev', '1.0.0');
    expect(ready.map((b) => b.port).sort()).toEqual(started.map((i) => i.port).sort());
    expect(ready.every((b) => b.version === '1.0.0')).toBe(true);
    // The cached array is returned as is until something changes.
    expect(sup.ready('web', 'dev', '1.0.0')).toBe(ready);
    expect(sup.ready('web', 'dev', '9.9.9')).toEqual([]);

    const info = JSON.parse((await get(started[0]!.port, '/info')).body);
    expect(info.env.PORT).toBe(String(started[0]!.port));
    expect(info.envKeys).toEqual(['APP_EXTRA', 'APP_VERSION', ...(process.env.HOME !== undefined ? ['HOME'] : []), 'PATH', 'PORT']);
  });

  it('scales down to the oldest instance, stops the others, and is idempotent', async () => {
    const sup = newSupervisor();
    const started = await sup.scale(appSpec(), 3, 1000);
    await waitFor('three ready', () => readyCount(sup) === 3);
    const after = await sup.scale(appSpec(), 1, 1000);
    expect(after.map((i) => i.id)).toEqual([started[0]!.id]);
    expect(alive(started[1]!.pid!)).toBe(false);
    expect(alive(started[2]!.pid!)).toBe(false);
    expect(sup.ready('web', 'dev', '1.0.0').map((b) => b.id)).toEqual([started[0]!.id]);

    const again = await sup.scale(appSpec(), 1, 1000);
    expect(again.map((i) => [i.id, i.pid])).toEqual([[started[0]!.id, started[0]!.pid]]);

    expect(await sup.scale(appSpec(), 0, 1000)).toEqual([]);
    expect(sup.instances()).toEqual([]);
    expect(alive(started[0]!.pid!)).toBe(false);
    expect(sup.ready('web', 'dev', '1.0.0')).toEqual([]);
  });

  it('serialises concurrent calls for one release', async () => {
    const sup = newSupervisor();
    const [a, b] = await Promise.all([sup.scale(appSpec(), 2, 1000), sup.scale(appSpec(), 2, 1000)]);
    expect(a).toHaveLength(2);
    expect(b.map((i) => i.id)).toEqual(a.map((i) => i.id));
    const [, c] = await Promise.all([sup.scale(appSpec(), 3, 1000), sup.scale(appSpec(), 1, 1000)]);
    expect(c).toHaveLength(1);
    expect(sup.instances()).toHaveLength(1);
  });

  it('substitutes ${port} in argv elements', async () => {
    const sup = newSupervisor();
    const [ins] = await sup.scale(appSpec({ command: [process.execPath, APP, '--port', '${port}', 'p=${port}'] }), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    const info = JSON.parse((await get(ins!.port, '/info')).body);
    expect(info.argv).toEqual(['--port', String(ins!.port), `p=${ins!.port}`]);
  });

  it('rejects a command that does not exist, naming the command and the cwd, and leaves nothing behind', async () => {
    const sup = newSupervisor();
    const spec = appSpec({ command: ['gangway-no-such-command', '--x'], cwd: stateDir });
    const err = await sup.scale(spec, 1, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect((err as GangwayError).code).toBe('invalid_argument');
    expect((err as GangwayError).message).toBe(`cannot start web 1.0.0 in dev: command "gangway-no-such-command" not found (cwd ${stateDir})`);
    expect(sup.instances()).toEqual([]);
  });

  it('rejects a command that is not executable and a cwd that does not exist', async () => {
    const sup = newSupervisor();
    fs.writeFileSync(path.join(stateDir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const e1 = await sup.scale(appSpec({ command: ['./run.sh'], cwd: stateDir }), 1, 1000).catch((e: unknown) => e);
    expect((e1 as Error).message).toBe(`cannot start web 1.0.0 in dev: command "./run.sh" is not executable (permission denied) (cwd ${stateDir})`);
    const missing = path.join(stateDir, 'nope');
    const e2 = await sup.scale(appSpec({ cwd: missing }), 1, 1000).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe(`cannot start web 1.0.0 in dev: working directory ${missing} does not exist`);
    expect(sup.instances()).toEqual([]);
  });
});

describe('Supervisor health checks', () => {
  it('marks a ready instance unhealthy after failureThreshold consecutive failures and ready again on the next pass', async () => {
    const flag = path.join(stateDir, 'unhealthy');
    const sup = newSupervisor();
    const [ins] = await sup.scale(appSpec({ env: { HEALTH_FILE: flag } }), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    const mark = events.length;
    fs.writeFileSync(flag, '');
    const unhealthy = await waitFor('unhealthy event', () => events.slice(mark).find((e) => e.kind === 'state' && e.instance.state === 'unhealthy'));
    expect(unhealthy.instance.consecutiveFailures).toBe(3);
    expect(unhealthy.instance.totalFailures).toBe(3);
    expect(unhealthy.instance.lastHealth?.detail).toBe('expected status 200, got 503');
    const failuresBefore = events.slice(mark).filter((e) => e.kind === 'health' && !e.instance.lastHealth?.ok && e.instance.state === 'ready');
    expect(failuresBefore.map((e) => e.instance.consecutiveFailures)).toEqual([1, 2]);
    expect(sup.ready('web', 'dev', '1.0.0')).toEqual([]);

    const mark2 = events.length;
    fs.rmSync(flag);
    const back = await waitFor('ready again', () => events.slice(mark2).find((e) => e.kind === 'state' && e.instance.state === 'ready'));
    expect(back.instance.consecutiveFailures).toBe(0);
    expect(back.instance.totalFailures).toBeGreaterThanOrEqual(3);
    expect(back.instance.pid).toBe(ins!.pid);
    expect(sup.ready('web', 'dev', '1.0.0').map((b) => b.id)).toEqual([ins!.id]);
  });

  it('keeps an instance that never passes in starting and explains why after startTimeoutMs', async () => {
    const sup = newSupervisor();
    await sup.scale(appSpec({ env: { FAIL_HEALTH: '1' }, health: { startTimeoutMs: 300 } as never }), 1, 1000);
    // Past the start timeout, each failed check says so with what it saw: a refused connection
    // while the app is not listening yet (it may start later than 300 ms), then the app's 503.
    const detail = 'not ready after 300 ms: expected status 200, got 503';
    const ins = await waitFor(`"${detail}"`, () => sup.instances().find((i) => i.lastHealth?.detail === detail), 50_000);
    expect(ins.state).toBe('starting');
    expect(ins.consecutiveFailures).toBe(0);
    expect(ins.totalFailures).toBe(0);
    expect(events.every((e) => e.instance.state === 'starting' && e.instance.lastHealth?.ok !== true)).toBe(true);
  });
});

describe('Supervisor restarts', () => {
  it('restarts a crashed instance with the same id and port and counts the restart', async () => {
    const sup = newSupervisor();
    const [ins] = await sup.scale(appSpec(), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    const mark = events.length;
    await get(ins!.port, '/crash');
    const crashed = await waitFor('crashed', () => events.slice(mark).find((e) => e.kind === 'state' && e.instance.state === 'crashed'));
    expect(crashed.instance.lastHealth?.detail).toBe('process exited with code 3');
    expect(crashed.instance.pid).toBeNull();
    const back = await waitFor('ready after restart', () => sup.instances().find((i) => i.state === 'ready' && i.restarts === 1));
    expect(back.id).toBe(ins!.id);
    expect(back.port).toBe(ins!.port);
    expect(back.pid).not.toBe(ins!.pid);
    expect((await get(back.port, '/')).body).toBe('1.0.0\n');
  });

  it('sends SIGKILL when an instance ignores SIGTERM', async () => {
    const sup = newSupervisor({ killTimeoutMs: 200 });
    const [ins] = await sup.scale(appSpec({ env: { IGNORE_SIGTERM: '1' } }), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    await sup.stopVersion('web', 'dev', '1.0.0', 0);
    expect(alive(ins!.pid!)).toBe(false);
    expect(sup.instances()).toEqual([]);
    const logs = await sup.logs('web', 'dev', '1.0.0', 10);
    expect(logs[0]!.lines).toContain('app: ignoring SIGTERM');
    expect(logs[0]!.lines.at(-1)).toMatch(/ killed by SIGKILL$/);
  });
});

describe('Supervisor draining', () => {
  it('waits for in-flight requests before stopping, and calls forget first', async () => {
    let inflight = 1;
    const forgotten: string[] = [];
    const sup = newSupervisor();
    sup.setProxy({ inflight: () => inflight, forget: (id) => { forgotten.push(id); } });
    const [ins] = await sup.scale(appSpec(), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    const stopped = sup.stopVersion('web', 'dev', '1.0.0', 30_000);
    await waitFor('forget called', () => forgotten.length === 1);
    expect(forgotten).toEqual([ins!.id]);
    expect(sup.instances().map((i) => i.state)).toEqual(['stopping']);
    expect(sup.ready('web', 'dev', '1.0.0')).toEqual([]);
    expect(alive(ins!.pid!)).toBe(true);
    inflight = 0;
    await stopped;
    expect(alive(ins!.pid!)).toBe(false);
    expect(sup.instances()).toEqual([]);
  });

  it('stops anyway when the drain timeout passes', async () => {
    const sup = newSupervisor();
    sup.setProxy({ inflight: () => 1, forget: () => {} });
    const [ins] = await sup.scale(appSpec(), 1, 1000);
    await sup.stopVersion('web', 'dev', '1.0.0', 100);
    expect(alive(ins!.pid!)).toBe(false);
  });
});

describe('Supervisor re-adoption', () => {
  it('adopts running instances without restarting them and restarts one that dies later', async () => {
    const first = newSupervisor();
    const started = await first.scale(appSpec(), 2, 1000);
    await waitFor('two ready', () => readyCount(first) === 2);
    const persisted = first.persisted();
    first.detach();

    const second = newSupervisor();
    second.adopt(persisted);
    expect(second.instances().map((i) => [i.id, i.pid, i.state, i.restarts])).toEqual(started.map((i) => [i.id, i.pid, 'ready', 0]));
    expect(second.ready('web', 'dev', '1.0.0')).toHaveLength(2);

    process.kill(started[1]!.pid!, 'SIGKILL');
    const back = await waitFor('restarted', () => second.instances().find((i) => i.id === started[1]!.id && i.restarts === 1 && i.state === 'ready'));
    expect(back.pid).not.toBe(started[1]!.pid);
    expect(second.instances()[0]!.pid).toBe(started[0]!.pid);
    expect(second.instances()[0]!.restarts).toBe(0);
  });

  it('never adopts a reused pid: a live process with another start time is left alone and the instance is restarted', async () => {
    const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    pids.add(bystander.pid!);
    try {
      const first = newSupervisor();
      await first.scale(appSpec(), 1, 1000);
      const [p] = first.persisted();
      await first.stopAll(0);
      const second = newSupervisor();
      second.adopt([{ ...p!, pid: bystander.pid!, pidStartTime: '1', state: 'ready' }]);
      expect(second.instances()[0]!.state).toBe('crashed');
      const back = await waitFor('restarted', () => second.instances().find((i) => i.state === 'ready' && i.restarts === 1));
      expect(back.pid).not.toBe(bystander.pid);
      expect(alive(bystander.pid!)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});

describe('Supervisor.logs', () => {
  it('returns the tail of each instance log', async () => {
    const sup = newSupervisor();
    const [ins] = await sup.scale(appSpec(), 1, 1000);
    await waitFor('ready', () => readyCount(sup) === 1);
    const logs = await sup.logs('web', 'dev');
    expect(logs).toHaveLength(1);
    expect(logs[0]!.instance).toBe(ins!.id);
    expect(logs[0]!.version).toBe('1.0.0');
    expect(logs[0]!.lines.at(-1)).toBe(`app 1.0.0 listening on 127.0.0.1:${ins!.port} (pid ${ins!.pid})`);
    expect(await sup.logs('web', 'dev', '1.0.0', 1)).toEqual([{ instance: ins!.id, version: '1.0.0', lines: [logs[0]!.lines.at(-1)] }]);
    expect(await sup.logs('web', 'dev', '2.0.0')).toEqual([]);
  });
});
