import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from './agent.js';
import { connectAgent } from './client.js';
import { freePort } from './ports.js';
import type { RouteSpec } from './types.js';

// Given an agent in this process with no instances: routes need none to be set, served and saved.
let stateDir: string;
let agent: RunningAgent | null;

const start = (): Promise<RunningAgent> => runAgent({ stateDir, metricsPort: 0, handleSignals: false, exitProcess: false });

beforeEach(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-ctl-'));
  agent = await start();
});

afterEach(async () => {
  await agent?.shutdown().catch(() => {});
  // Retries: an instance that just exited may still be appending its last log line.
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

/** PUT /v1/routes with a raw JSON body, as any client of the socket may send it. */
function putRoute(body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request({ socketPath: path.join(stateDir, 'agent.sock'), method: 'PUT', path: '/v1/routes', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

describe('PUT /v1/routes with canary routing', () => {
  it('passes header routes and sticky sessions through to the proxy, and a restarted agent serves them again', async () => {
    const port = await freePort();
    const route: RouteSpec = {
      service: 'web', environment: 'dev', host: '127.0.0.1', port, preview: null,
      versions: [{ version: '1.0.0', weight: 90 }, { version: '2.0.0', weight: 10 }],
      headerRoutes: [{ name: 'X-Canary', value: 'always', version: '2.0.0' }],
      sticky: { cookie: 'gw_web', ttlMs: 600_000 },
    };
    const client = connectAgent(stateDir);
    await client.setRoute(route);
    expect((await client.state()).routes).toEqual([route]);

    // When the agent is replaced (instances and routes left in force), the next one reads them back from the state file.
    await agent!.close();
    agent = await start();
    expect((await client.state()).routes).toEqual([route]);

    // And a route update without the fields removes them.
    const plain: RouteSpec = { service: 'web', environment: 'dev', host: '127.0.0.1', port, preview: null, versions: route.versions };
    await client.setRoute(plain);
    const after = (await client.state()).routes;
    expect(after).toEqual([plain]);
    expect(Object.keys(after[0]!)).toEqual(['service', 'environment', 'port', 'host', 'versions', 'preview']);
  });

  it('answers 400 naming the field for a malformed or unusable header route or cookie', async () => {
    const port = await freePort();
    const base = { service: 'web', environment: 'dev', host: '127.0.0.1', port, preview: null, versions: [{ version: '1.0.0', weight: 1 }] };
    expect(await putRoute({ ...base, headerRoutes: [{ name: 'x-canary', value: 1, version: '2.0.0' }] })).toEqual({
      status: 400, json: { error: { code: 'invalid_argument', message: 'invalid request: headerRoutes.0.value: Invalid input: expected string, received number' } },
    });
    expect(await putRoute({ ...base, sticky: { cookie: 'gw web', ttlMs: 1000 } })).toEqual({
      status: 400, json: { error: { code: 'invalid_argument', message: 'route.sticky.cookie must be a cookie name (an HTTP token), got "gw web"' } },
    });
    expect((await connectAgent(stateDir).state()).routes).toEqual([]);
  });
});
