import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDashboard, resolveAsset } from './static.js';

let dir: string;
let app: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-static-'));
  mkdirSync(join(dir, 'assets'));
  mkdirSync(join(dir, 'docs'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dir, 'assets', 'index-Ab12.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'index-Ab12.css'), 'body{}');
  writeFileSync(join(dir, 'robots.txt'), 'User-agent: *');
  writeFileSync(join(dir, 'docs', 'a.txt'), 'a');
  app = Fastify();
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url}` } }));
  app.get('/v1/status', async () => []);
  registerDashboard(app, { dir });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (url: string) => app.inject({ method: 'GET', url });

describe('given a built dashboard', () => {
  it('serves index.html at / with no-cache and a policy that forbids framing', async () => {
    const res = await get('/');
    expect([res.statusCode, res.headers['content-type'], res.headers['cache-control'], res.body])
      .toEqual([200, 'text/html; charset=utf-8', 'no-cache', '<!doctype html><div id="root"></div>']);
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('serves hashed assets with their content type, cached for a year as immutable', async () => {
    const js = await get('/assets/index-Ab12.js');
    expect([js.statusCode, js.headers['content-type'], js.headers['cache-control'], js.body])
      .toEqual([200, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable', 'console.log(1)']);
    const css = await get('/assets/index-Ab12.css');
    expect([css.statusCode, css.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
    const txt = await get('/robots.txt');
    expect([txt.statusCode, txt.headers['content-type'], txt.headers['cache-control']]).toEqual([200, 'text/plain; charset=utf-8', 'no-cache']);
  });

  it('sends no referrer and forbids MIME sniffing, for the page and its files', async () => {
    for (const url of ['/', '/assets/index-Ab12.js', '/robots.txt', '/deployments/d-1']) {
      const res = await get(url);
      expect([url, res.statusCode, res.headers['referrer-policy'], res.headers['x-content-type-options']]).toEqual([url, 200, 'no-referrer', 'nosniff']);
    }
  });

  it('answers HEAD like GET without a body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/assets/index-Ab12.js' });
    expect([res.statusCode, res.headers['content-type'], res.body]).toEqual([200, 'text/javascript; charset=utf-8', '']);
  });

  it('answers the app for its own routes (SPA fallback), and for a folder instead of listing it', async () => {
    for (const url of ['/deployments/d-1.2.3', '/history?service=web', '/docs', '/docs/']) {
      const res = await get(url);
      expect([url, res.statusCode, res.headers['content-type'], res.body]).toEqual([url, 200, 'text/html; charset=utf-8', '<!doctype html><div id="root"></div>']);
    }
  });

  it('answers 404 for a missing asset rather than HTML a browser would run as a script', async () => {
    for (const url of ['/assets/gone-123.js', '/assets/nothing', '/missing.css']) {
      const res = await get(url);
      expect([url, res.statusCode, res.json()]).toEqual([url, 404, { error: { code: 'not_found', message: `no route GET ${url}` } }]);
    }
  });

  it('leaves /v1 to the API: real routes answer, unknown ones get the API\'s JSON 404', async () => {
    expect((await get('/v1/status')).json()).toEqual([]);
    const res = await get('/v1/nothing-here');
    expect([res.statusCode, res.json()]).toEqual([404, { error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } }]);
  });

  it('never serves a file outside its folder', async () => {
    writeFileSync(join(dir, '..', 'gangway-static-secret.txt'), 'k3y-m4terial');
    try {
      for (const url of ['/../gangway-static-secret.txt', '/%2e%2e/gangway-static-secret.txt', '/assets/..%2f..%2fgangway-static-secret.txt', '/%00']) {
        const res = await get(url);
        expect([url, res.body.includes('k3y-m4terial')]).toEqual([url, false]);
      }
    } finally {
      rmSync(join(dir, '..', 'gangway-static-secret.txt'), { force: true });
    }
  });
});

describe('resolveAsset', () => {
  it('maps a URL path into the folder and refuses paths that leave it or cannot be decoded', () => {
    expect(resolveAsset('/srv/dist', '/assets/a.js')).toBe('/srv/dist/assets/a.js');
    expect(resolveAsset('/srv/dist', '/a/../b.js')).toBe('/srv/dist/b.js');
    expect(resolveAsset('/srv/dist', '/../etc/passwd')).toBeNull();
    expect(resolveAsset('/srv/dist', '/..%2f..%2fetc/passwd')).toBeNull();
    expect(resolveAsset('/srv/dist', '/%E0%A4%A')).toBeNull();
    expect(resolveAsset('/srv/dist', '/a%00.js')).toBeNull();
    expect(resolveAsset('/srv/dist', '/a%5c..%5cb')).toBeNull();
  });
});

describe('given no build', () => {
  it('says how to build the dashboard instead of a blank page', async () => {
    const bare = Fastify();
    registerDashboard(bare, { dir: join(dir, 'no-such-build') });
    const res = await bare.inject({ method: 'GET', url: '/' });
    expect([res.statusCode, res.headers['content-type'], res.headers['cache-control']]).toEqual([503, 'text/html; charset=utf-8', 'no-store']);
    expect(res.body).toContain('Run <code>npm run build</code>');
    await bare.close();
  });
});
