/**
 * The GitHub fake answers as GitHub's REST API documentation says, so the notifier tests
 * that rely on it mean something.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from './fake-github.js';

const TOKEN = 'ghp_fake';
let gh: FakeGitHub;
beforeAll(async () => {
  gh = await FakeGitHub.start({ token: TOKEN, repos: { 'acme/shop': { main: 'a'.repeat(40), 'v1': 'b'.repeat(40) } } });
});
afterAll(async () => { await gh.close(); });

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}`, 'User-Agent': 'test' }) {
  const res = await fetch(`${gh.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = text;
  try { json = JSON.parse(text); } catch { /* plain text */ }
  return { status: res.status, json };
}

describe('fake GitHub deployments API', () => {
  it('requires a User-Agent and a valid token', async () => {
    // fetch always sends a User-Agent; node:http sends none unless told.
    const bare = await new Promise<number>((resolve, reject) => {
      request(`${gh.url}/repos/acme/shop/deployments`, { headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
        .on('error', reject).end();
    });
    expect(bare).toBe(403);
    expect(await call('GET', '/repos/acme/shop/deployments', undefined, { 'User-Agent': 'test' }))
      .toEqual({ status: 401, json: { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest', status: '401' } });
    expect(await call('GET', '/repos/acme/shop/deployments', undefined, { 'User-Agent': 'test', Authorization: 'Bearer nope' }))
      .toEqual({ status: 401, json: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' } });
    expect((await call('GET', '/repos/acme/shop/deployments', undefined, { 'User-Agent': 'test', Authorization: `token ${TOKEN}` })).status).toBe(200);
    expect((await call('GET', '/repos/acme/other/deployments')).json).toEqual({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
  });

  it('validates a new deployment: ref required and known, field types, JSON', async () => {
    expect(await call('POST', '/repos/acme/shop/deployments', { environment: 'prod' })).toEqual({ status: 422, json: {
      message: 'Invalid request.\n\n"ref" wasn\'t supplied.', documentation_url: 'https://docs.github.com/rest/deployments/deployments#create-a-deployment', status: '422' } });
    expect(await call('POST', '/repos/acme/shop/deployments', { ref: 'v9' })).toEqual({ status: 422, json: {
      message: 'No ref found for: v9', documentation_url: 'https://docs.github.com/rest/deployments/deployments#create-a-deployment', status: '422' } });
    expect((await call('POST', '/repos/acme/shop/deployments', { ref: 'v1', auto_merge: 'no' })).json)
      .toEqual({ message: 'Invalid request.\n\nFor \'properties/auto_merge\', "no" is not a boolean.', documentation_url: 'https://docs.github.com/rest', status: '422' });
    expect(await call('POST', '/repos/acme/shop/deployments', '{ref:')).toEqual({ status: 400, json: {
      message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/rest', status: '400' } });
  });

  it('creates deployments with GitHub\'s defaults and lists them newest first, filtered', async () => {
    const a = await call('POST', '/repos/acme/shop/deployments', { ref: 'v1' });
    expect(a.status).toBe(201);
    expect(a.json).toMatchObject({ ref: 'v1', sha: 'b'.repeat(40), task: 'deploy', payload: {}, environment: 'production', original_environment: 'production',
      description: null, production_environment: true, transient_environment: false });
    const b = await call('POST', '/repos/acme/shop/deployments', { ref: 'main', environment: 'staging', payload: '{"x":1}' });
    expect(b.json).toMatchObject({ ref: 'main', environment: 'staging', payload: { x: 1 }, production_environment: false });
    const ids = (r: { json: unknown }) => (r.json as Array<{ id: number }>).map((d) => d.id);
    const [ida, idb] = [(a.json as { id: number }).id, (b.json as { id: number }).id];
    expect(ids(await call('GET', '/repos/acme/shop/deployments'))).toEqual([idb, ida]);
    expect(ids(await call('GET', '/repos/acme/shop/deployments?environment=staging'))).toEqual([idb]);
    expect(ids(await call('GET', '/repos/acme/shop/deployments?ref=v1&environment=staging'))).toEqual([]);
    expect((await call('GET', `/repos/acme/shop/deployments/${ida}`)).json).toEqual(a.json);
  });

  it('validates statuses (422 on an unknown state or a long description), lists them newest first and inactivates earlier successes', async () => {
    const first = (await call('POST', '/repos/acme/shop/deployments', { ref: 'v1', environment: 'qa' })).json as { id: number; url: string };
    const second = (await call('POST', '/repos/acme/shop/deployments', { ref: 'main', environment: 'qa' })).json as { id: number };
    expect(await call('POST', `/repos/acme/shop/deployments/${first.id}/statuses`, { state: 'done' })).toEqual({ status: 422, json: {
      message: 'Validation Failed',
      errors: [{ resource: 'DeploymentStatus', code: 'custom', field: 'state', message: 'state is not included in the list' }],
      documentation_url: 'https://docs.github.com/rest/deployments/statuses#create-a-deployment-status', status: '422' } });
    expect((await call('POST', `/repos/acme/shop/deployments/${first.id}/statuses`, { state: 'success', description: 'x'.repeat(141) })).json)
      .toMatchObject({ errors: [{ field: 'description', message: 'description is too long (maximum is 140 characters)' }] });
    expect((await call('POST', `/repos/acme/shop/deployments/${first.id}/statuses`, {})).status).toBe(422);
    expect((await call('POST', '/repos/acme/shop/deployments/999999/statuses', { state: 'success' })).status).toBe(404);

    const ok = await call('POST', `/repos/acme/shop/deployments/${first.id}/statuses`, { state: 'success', description: 'done' });
    expect(ok.status).toBe(201);
    expect(ok.json).toMatchObject({ state: 'success', description: 'done', environment: 'qa', deployment_url: first.url });
    await call('POST', `/repos/acme/shop/deployments/${second.id}/statuses`, { state: 'success' });
    expect(gh.statusesOf(first.id).map((s) => s.state)).toEqual(['success', 'inactive']);
    expect(((await call('GET', `/repos/acme/shop/deployments/${first.id}/statuses`)).json as Array<{ state: string }>).map((s) => s.state)).toEqual(['inactive', 'success']);
  });

  it('answers 502 to the next requests when told to fail', async () => {
    gh.failNext(2);
    expect((await call('GET', '/repos/acme/shop/deployments')).status).toBe(502);
    expect((await call('GET', '/repos/acme/shop/deployments')).json).toEqual({ message: 'Server Error' });
    expect((await call('GET', '/repos/acme/shop/deployments')).status).toBe(200);
  });
});
