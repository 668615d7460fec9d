import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../agent/ports.js';
import { checkHttp } from './http-check.js';

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
    // The app runs in its own process, so it answers while this one is busy.
    const app = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => app.stdout.once('data', (c: Buffer) => resolve(Number(String(c).trim()))));
      const pending = checkHttp(`http://127.0.0.1:${port}/`, { status: 200, bodyContains: 'ok' }, 150);
      const until = performance.now() + 600;
      while (performance.now() < until) { /* a long synchronous task: the timer fires 450 ms late */ }
      expect(await pending).toMatchObject({ ok: true, status: 200, detail: 'status 200' });
    } finally {
      app.kill();
    }
  });
});
