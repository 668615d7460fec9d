/**
 * Requests the framework refuses before a route runs — a bad URL, an over-long id, a body
 * that is not UTF-8 JSON, a Host that is not this server's, a malformed HTTP request — get
 * the API's error shape, echo at most 200 characters of what was sent, and never reach the
 * orchestrator. Every answer carries nosniff and no-store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { connect, type AddressInfo } from 'node:net';
import { buildServer, charsetOf } from './app.js';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';

const TOKEN = 'hostile-requests-token';
const auth = { authorization: `Bearer ${TOKEN}` };

let fake: FakeOrchestrator;
let app: FastifyInstance;

beforeEach(() => {
  fake = new FakeOrchestrator({ services: { web: ['dev', 'prod'] } });
  app = buildServer({
    orchestrator: fake, token: TOKEN, version: '9.9.9', allowedHosts: ['gangway.example.com'],
    config: { file: 'gangway.yaml', serviceNames: ['web'], environments: [{ name: 'dev' }, { name: 'prod' }], server: { host: 'orchestrator.internal', port: 7400, allowedHosts: ['.corp.example'] } },
  });
});
afterEach(async () => { await app.close(); });

const deploy = { service: 'web', environment: 'dev', version: '1.0.0' };

describe('URLs', () => {
  it.each([
    ['GET', '/v1/deployments/%'],
    ['GET', '/v1/deployments/%E0%A4%A'],
    ['POST', '/v1/deployments/%zz/abort'],
  ] as const)('%s %s: bad percent-encoding → 400 in the error shape', async (method, url) => {
    const res = await app.inject({ method, url, headers: auth });
    expect([res.statusCode, res.headers['content-type'], res.json()]).toEqual([400, 'application/json; charset=utf-8', {
      error: { code: 'invalid_argument', message: 'path: is not a valid URL (bad percent-encoding)', hint: 'encode "%" as %25 and any other reserved character with encodeURIComponent' },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it('a bad percent-encoding in the query is kept as sent: an unknown name', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/status?service=%', headers: auth });
    expect([res.statusCode, res.json()]).toEqual([404, { error: { code: 'not_found', message: 'unknown service "%"', hint: 'services in gangway.yaml: web' } }]);
  });

  it.each(['GET', 'POST'] as const)('%s with an id over 100 characters → 414 in the error shape', async (method) => {
    const url = method === 'GET' ? `/v1/deployments/${'d'.repeat(101)}` : `/v1/deployments/${'d'.repeat(5000)}/abort`;
    const res = await app.inject({ method, url, headers: auth });
    expect([res.statusCode, res.json()]).toEqual([414, {
      error: { code: 'invalid_argument', message: 'path: a path parameter is longer than 100 characters', hint: 'ids and names in paths are at most 100 characters' },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it('an id of 100 characters reaches the route', async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/deployments/${'d'.repeat(100)}`, headers: auth });
    expect([res.statusCode, res.json().error.message]).toEqual([404, `deployment ${'d'.repeat(100)} not found`]);
  });

  it('an unknown route echoes at most 200 characters of its path', async () => {
    const res = await app.inject({ method: 'POST', url: `/v1/${'x/'.repeat(3000)}`, headers: auth });
    expect([res.statusCode, res.json()]).toEqual([404, { error: { code: 'not_found', message: `no route POST /v1/${'x/'.repeat(98)}…`, hint: 'see GET /openapi.json for the routes' } }]);
  });

  it('CRLF in a path parameter is data, not a header', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/deployments/a%0D%0ASet-Cookie:%20x=1', headers: auth });
    expect([res.statusCode, res.headers['set-cookie'], res.json().error.message]).toEqual([404, undefined, 'deployment a\r\nSet-Cookie: x=1 not found']);
  });
});

describe('bodies', () => {
  const post = (payload: string, contentType: string | undefined, url = '/v1/deployments') =>
    app.inject({ method: 'POST', url, headers: { ...auth, ...(contentType ? { 'content-type': contentType } : {}) }, payload });

  it('invalid JSON → 400', async () => {
    const res = await post('{"service":', 'application/json');
    expect([res.statusCode, res.json()]).toEqual([400, { error: { code: 'invalid_argument', message: 'body: is not valid JSON', hint: 'send a JSON object with content-type: application/json' } }]);
  });

  it('an empty JSON body → 400', async () => {
    const res = await post('', 'application/json');
    expect([res.statusCode, res.json()]).toEqual([400, {
      error: { code: 'invalid_argument', message: 'body: is empty but content-type is application/json', hint: 'send a JSON object, or no content-type header without a body' },
    }]);
  });

  it.each([
    '{"__proto__":{"admin":true},"service":"web","environment":"dev","version":"1.0.0"}',
    '{"service":"web","environment":"dev","version":"1.0.0","x":{"constructor":{"prototype":{"admin":true}}}}',
  ])('prototype keys are refused: %s', async (payload) => {
    const res = await post(payload, 'application/json');
    expect([res.statusCode, res.json()]).toEqual([400, {
      error: { code: 'invalid_argument', message: 'body: keys named __proto__, or constructor with a prototype, are not accepted', hint: 'rename the key; see GET /openapi.json for the accepted fields' },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it('a body over 256 KiB → 413', async () => {
    const res = await post(JSON.stringify({ ...deploy, reason: 'r'.repeat(300_000) }), 'application/json');
    expect([res.statusCode, res.json()]).toEqual([413, { error: { code: 'invalid_argument', message: 'body: is larger than the limit of 256 KiB', hint: 'send a smaller body' } }]);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x'])('content-type %s → 415', async (type) => {
    const res = await post(JSON.stringify(deploy), type);
    expect([res.statusCode, res.json()]).toEqual([415, {
      error: { code: 'invalid_argument', message: 'content-type: is not accepted; the API reads JSON only', hint: 'send a JSON object with content-type: application/json' },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it.each(['utf-16', 'UTF-16LE', 'iso-8859-1', '"utf-32"', 'x'.repeat(500)])('charset=%s → 415, not read as UTF-8', async (charset) => {
    const res = await post(JSON.stringify(deploy), `application/json; charset=${charset}`);
    const shown = charset.replace(/"/g, '').toLowerCase();
    expect([res.statusCode, res.json()]).toEqual([415, {
      error: {
        code: 'invalid_argument', message: `content-type: charset "${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}" is not accepted; the API reads UTF-8`,
        hint: 'send the body in UTF-8 with content-type: application/json',
      },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON; Charset="UTF-8"', 'application/json;charset=utf8'])('%s is read', async (type) => {
    const res = await post(JSON.stringify(deploy), type);
    expect(res.statusCode).toBe(201);
  });

  it('an invalid 200 KB version is echoed as its first 200 characters', async () => {
    const res = await post(JSON.stringify({ ...deploy, version: `-${'v'.repeat(200_000)}` }), 'application/json');
    const shown = `"-${'v'.repeat(199)}…" is not a valid version`;
    expect([res.statusCode, res.json()]).toEqual([400, { error: {
      code: 'invalid_argument', message: `version: ${shown}`,
      hint: 'a version is 1-128 characters of letters, digits, ".", "_", "+" or "-", starting with a letter or digit, e.g. 1.4.2',
      details: { where: 'body', problems: [{ field: 'version', message: shown }] },
    } }]);
    expect(res.body.length).toBeLessThan(1500);
  });

  it('600 unknown fields name the first 20, each cut to 200 characters', async () => {
    const body: Record<string, unknown> = { ...deploy };
    for (let i = 0; i < 600; i++) body[`${'k'.repeat(300)}${i}`] = 1;
    const res = await post(JSON.stringify(body), 'application/json');
    const field = `${'k'.repeat(200)}…`;
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe(`${Array.from({ length: 20 }, () => `${field}: unknown field`).join('; ')}; and 580 more`);
    expect(res.json().error.details.problems).toHaveLength(20);
    expect(res.body.length).toBeLessThan(12_000);
  });
});

describe('the Host header', () => {
  const get = (host: string) => app.inject({ method: 'GET', url: '/v1/status', headers: { ...auth, host } });

  it.each([
    '127.0.0.1:7400', '127.0.0.1', 'localhost:7400', 'LOCALHOST', 'localhost.', 'dash.localhost:9', '[::1]:7400', '[::1]', '10.1.2.3:80', '0.0.0.0:7400',
    'orchestrator.internal:7400', 'gangway.example.com', 'Gangway.Example.Com:443', 'corp.example', 'a.b.corp.example:8443',
  ])('%s is served', async (host) => {
    expect((await get(host)).statusCode).toBe(200);
  });

  it.each(['evil.example', 'evil.example:7400', 'localhost.evil.example', 'gangway.example.com.evil.example', 'notcorp.example', '127.0.0.1.nip.io', '[::1', 'a b', 'evil.example:7400:80'])('%s → 403 in the error shape', async (host) => {
    const res = await get(host);
    expect([res.statusCode, res.json()]).toEqual([403, {
      error: { code: 'forbidden', message: `host: "${host}" is not a name this server answers to`, hint: 'use the address the server listens on (server.host in gangway.yaml), localhost or 127.0.0.1, or add the name to server.allowedHosts' },
    }]);
    expect(fake.calls).toEqual([]);
  });

  it('applies before authentication and to the dashboard', async () => {
    const res = await app.inject({ method: 'GET', url: '/', headers: { host: 'evil.example' } });
    expect(res.statusCode).toBe(403);
  });
});

describe('headers of every answer', () => {
  it.each([
    ['GET', '/v1/status', 200], ['GET', '/healthz', 200], ['GET', '/openapi.json', 200], ['GET', '/v1/deployments/nope', 404],
    ['POST', '/v1/deployments', 400], ['GET', '/v1/deployments/%', 400], ['GET', '/v1/nothing', 404],
  ] as const)('%s %s (%i): nosniff and no-store', async (method, url, status) => {
    const res = await app.inject({ method, url, headers: { ...auth, 'content-type': 'application/json' }, payload: method === 'POST' ? '{}' : undefined });
    expect([res.statusCode, res.headers['x-content-type-options'], res.headers['cache-control']]).toEqual([status, 'nosniff', 'no-store']);
  });

  it('a 401 too', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/status' });
    expect([res.statusCode, res.headers['x-content-type-options'], res.headers['cache-control']]).toEqual([401, 'nosniff', 'no-store']);
  });
});

describe('malformed HTTP, over a socket', () => {
  async function raw(request: string): Promise<string> {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk) => { data += chunk.toString('utf8'); });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.write(request);
    });
  }

  it('a header with a bare CR → 400 in the error shape, connection closed', async () => {
    const answer = await raw(`GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nX-Evil: a\rb\r\n\r\n`);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head.split('\r\n')).toEqual([
      'HTTP/1.1 400 Bad Request', 'Content-Type: application/json; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`,
      'X-Content-Type-Options: nosniff', 'Cache-Control: no-store', 'Connection: close',
    ]);
    expect(JSON.parse(body)).toEqual({ error: { code: 'invalid_argument', message: 'request: is not valid HTTP/1.1' } });
  });

  it('headers over the size limit → 431', async () => {
    const answer = await raw(`GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(answer.split('\r\n', 1)[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(answer.split('\r\n\r\n')[1])).toEqual({ error: { code: 'invalid_argument', message: 'headers: larger than the server accepts' } });
  });
});

describe('charsetOf', () => {
  it('reads the charset parameter', () => {
    expect([
      charsetOf(undefined), charsetOf('application/json'), charsetOf('application/json; charset=UTF-8'), charsetOf('application/json;CHARSET="utf-16"'),
      charsetOf('application/json; boundary=x; charset = latin1 '), charsetOf('application/json; charsetx=1'),
    ]).toEqual([undefined, undefined, 'utf-8', 'utf-16', 'latin1', undefined]);
  });
});
