/**
 * The CLI's API client tells the two kinds of "unreachable" apart: the orchestrator itself not
 * answering (exit 5) and the orchestrator answering that a platform behind it does not (exit 6).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GangwayError, exitCodeOf } from '../errors.js';
import { ApiClient } from './client.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = req.url?.startsWith('/v1/status')
      ? { error: { code: 'unreachable', message: 'cannot reach the Kubernetes API server at https://10.0.0.1:6443 (context prod): connection refused (ECONNREFUSED)', hint: 'check that the cluster is up' } }
      : { error: { code: 'not_found', message: 'no deployment d-1' } };
    res.writeHead(req.url?.startsWith('/v1/status') ? 502 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

async function failure(p: Promise<unknown>): Promise<GangwayError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof GangwayError)) throw new Error(`expected a GangwayError, got ${String(err)}`);
  return err;
}

describe('ApiClient errors', () => {
  it('given the orchestrator answers `unreachable`, then the error is upstream_unreachable with its message and hint, exit 6', async () => {
    const err = await failure(new ApiClient({ baseUrl: base, actor: 'ana' }).status({}));
    expect([err.code, err.message, err.hint, exitCodeOf(err.code)]).toEqual([
      'upstream_unreachable', 'cannot reach the Kubernetes API server at https://10.0.0.1:6443 (context prod): connection refused (ECONNREFUSED)', 'check that the cluster is up', 6,
    ]);
  });

  it('given no orchestrator listens, then the error is unreachable naming it, exit 5', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure(new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, actor: 'ana' }).status({}));
    expect([err.code, err.message, exitCodeOf(err.code)]).toEqual(['unreachable', `the orchestrator is not running at http://127.0.0.1:${port}`, 5]);
  });

  it('passes other API errors through with their code', async () => {
    const err = await failure(new ApiClient({ baseUrl: base, actor: 'ana' }).getDeployment('d-1'));
    expect([err.code, err.message, exitCodeOf(err.code)]).toEqual(['not_found', 'no deployment d-1', 2]);
  });
});
