import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../agent/ports.js';
import { checkHttp, type HttpCheckResult } from './http-check.js';

let server: http.Server;
let base: string;
const hanging = new Set<http.ServerResponse>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const send = (status: number, body: string) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(body); };
    switch (req.url) {
      case '/up': return send(200, JSON.stringify({ status: 'UP', checks: { db: 'UP', list: [1, 2] } }));
      case '/down': return send(503, JSON.stringify({ status: 'DOWN' }));
      case '/down-200': return send(200, JSON.stringify({ status: 'DOWN' }));
      case '/text': return send(200, 'hello world');
      case '/method': return send(200, JSON.stringify({ method: req.method, token: req.headers['x-token'] ?? null }));
      case '/hang': hanging.add(res); return;
      default: return send(404, '{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await new Promise((r) => server.close(r));
});

describe('checkHttp', () => {
  it('passes on the expected status and JSON fields, including dotted paths and deep values', async () => {
    const r = await checkHttp(`${base}/up`, { status: 200, json: { status: 'UP', 'checks.db': 'UP', 'checks.list': [1, 2] } }, 1000);
    expect(r.ok).toBe(true);
    expect(r.status).toBe(200);
    expect(r.detail).toBe('status 200');
    expect(JSON.parse(r.body!)).toEqual({ status: 'UP', checks: { db: 'UP', list: [1, 2] } });
  });

  it('says which status it expected and got', async () => {
    const r = await checkHttp(`${base}/down`, { status: 200, json: { status: 'UP' } }, 1000);
    expect(r).toMatchObject({ ok: false, status: 503, detail: 'expected status 200, got 503' });
  });

  it('says which JSON field differed, or that it is missing', async () => {
    expect((await checkHttp(`${base}/down-200`, { status: 200, json: { status: 'UP' } }, 1000)).detail)
      .toBe('expected json field status = "UP", got "DOWN"');
    expect((await checkHttp(`${base}/up`, { status: 200, json: { 'checks.cache': 'UP' } }, 1000)).detail)
      .toBe('expected json field checks.cache = "UP", got nothing (field missing)');
    expect((await checkHttp(`${base}/text`, { status: 200, json: { status: 'UP' } }, 1000)).detail)
      .toBe('expected a JSON body, got "hello world"');
  });

  it('checks bodyContains', async () => {
    expect((await checkHttp(`${base}/text`, { status: 200, bodyContains: 'world' }, 1000)).ok).toBe(true);
    expect((await checkHttp(`${base}/text`, { status: 200, bodyContains: 'mars' }, 1000)).detail)
      .toBe('expected body to contain "mars", got "hello world"');
  });

  it('sends the method and headers given', async () => {
    const r = await checkHttp(`${base}/method`, { status: 200, json: { method: 'POST', token: 't1' } }, 1000, { method: 'POST', headers: { 'x-token': 't1' } });
    expect(r.ok).toBe(true);
  });

  it('reports a timeout and a refused connection without throwing', async () => {
    const t = await checkHttp(`${base}/hang`, { status: 200 }, 200);
    expect(t).toMatchObject({ ok: false, status: null, detail: 'timed out after 200 ms' });
    const port = await freePort();
    const c = await checkHttp(`http://127.0.0.1:${port}/health`, { status: 200 }, 1000);
    expect(c).toMatchObject({ ok: false, status: null, detail: 'connection refused' });
    expect((await checkHttp('not a url', { status: 200 }, 1000)).detail).toBe('invalid URL "not a url"');
  });

  it('given this process held up past the limit, when the app answered in time, then the check passes', async () => {
    const app = await startApp();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const pending = checkHttp(`http://127.0.0.1:${app.port}/`, { status: 200, bodyContains: 'ok' }, 150);
      const until = performance.now() + 600;
      while (performance.now() < until) { /* a long synchronous task: the request goes out after it */ }
      // Its timer fires 450 ms late: the app gets the limit once more, from now, and (by the fake
      // clock, however slow the machine) answers within it.
      vi.advanceTimersByTime(150);
      expect(await pending).toMatchObject({ ok: true, status: 200, detail: 'status 200' });
    } finally {
      vi.useRealTimers();
      app.stop();
    }
  });

  it('given this process held up while the app answered, when the late timer fires before the answer is read, then the check passes', async () => {
    const r = await answerWaitingWhenTimerFires('late');
    expect(r.pendingWhenTimerFired).toBe(true);
    expect(r.result).toMatchObject({ ok: true, status: 200, detail: 'status 200' });
  });

  it('given an answer waiting in the socket, when the timer fires on time before it is read, then the check passes', async () => {
    const r = await answerWaitingWhenTimerFires('on time');
    expect(r.pendingWhenTimerFired).toBe(true);
    expect(r.result).toMatchObject({ ok: true, status: 200, detail: 'status 200' });
  });
});

/**
 * The app in its own process, so it runs while this one is held up. With `answered` (a file
 * path) it holds each request until SIGUSR2, then answers and, once the answer is sent, creates
 * that file; without, it answers at once. It prints its port, then "received" for each request.
 */
async function startApp(answered?: string): Promise<{ port: number; pid: number; received: () => Promise<string>; stop: () => void }> {
  const app = spawn(process.execPath, ['-e', `
    const held = [];
    const hold = process.argv.length > 1;
    process.on('SIGUSR2', () => { for (const s of held.splice(0)) s.end('ok', () => require('node:fs').writeFileSync(process.argv[1], '')); });
    require('node:http').createServer((q, s) => { console.log('received'); if (hold) held.push(s); else s.end('ok'); })
      .listen(0, '127.0.0.1', function () { console.log(this.address().port); });
  `, ...(answered ? [answered] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: app.stdout });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  const port = Number(await next());
  return { port, pid: app.pid!, received: next, stop: () => { lines.close(); app.kill(); } };
}

/**
 * A check with a 150 ms limit whose timer fires while the app's answer waits unread in the
 * socket: the app receives the request; this process is held up (synchronously) while it tells
 * the app to answer and waits until the answer is sent; then the check's timer fires, before
 * the event loop reads that answer. A fake timer decides when it fires, so how fast either
 * process runs does not matter. `late`: this process was held up for at least 600 ms by then
 * (the check measures real time); `on time`: the check's clock says 150 ms.
 */
async function answerWaitingWhenTimerFires(timer: 'late' | 'on time'): Promise<{ result: HttpCheckResult; pendingWhenTimerFired: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-http-check-'));
  const answered = join(dir, 'answered');
  const app = await startApp(answered);
  vi.useFakeTimers({ toFake: timer === 'late' ? ['setTimeout', 'clearTimeout'] : ['setTimeout', 'clearTimeout', 'performance'] });
  try {
    const received = app.received();
    let settled = false;
    const pending = checkHttp(`http://127.0.0.1:${app.port}/`, { status: 200, bodyContains: 'ok' }, 150);
    const since = performance.now();
    void pending.then(() => { settled = true; });
    expect(await received).toBe('received');
    process.kill(app.pid, 'SIGUSR2');
    const guard = Date.now() + 30_000;
    while (!existsSync(answered) || (timer === 'late' && performance.now() - since < 600)) {
      if (Date.now() > guard) throw new Error('the app did not answer within 30 s');
    }
    // The timer fires next, before the poll phase reads the answer, as a timer that is due does.
    const pendingWhenTimerFired = await new Promise<boolean>((resolve) => setImmediate(() => {
      const wasPending = !settled;
      vi.advanceTimersByTime(150);
      resolve(wasPending);
    }));
    return { result: await pending, pendingWhenTimerFired };
  } finally {
    vi.useRealTimers();
    app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
