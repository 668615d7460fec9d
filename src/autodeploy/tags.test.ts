/** Which tag is newest: SemVer 2.0.0 precedence (the spec's own examples), and the tag list read page by page. */
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { pushImage, startRegistryOrSkip } from '../../test/support/registry.js';
import { RegistryClient, nextLink } from '../gates/registry/client.js';
import { compareSemver, isNewerSemver, matcher, newestSemver, parseSemver } from './tags.js';

describe('semver order', () => {
  it('orders the SemVer 2.0.0 spec example: 1.0.0-alpha < alpha.1 < alpha.beta < beta < beta.2 < beta.11 < rc.1 < 1.0.0', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
    const shuffled = [...ordered].reverse();
    shuffled.sort((a, b) => compareSemver(parseSemver(a)!, parseSemver(b)!));
    expect(shuffled).toEqual(ordered);
  });

  it('compares numbers as numbers, allows a leading v, ignores build metadata and leaves out tags that are not versions', () => {
    expect(newestSemver(['1.9.0', '1.10.0', 'latest', '1.2', 'v1.10.1+build.7', '01.2.3'])).toBe('v1.10.1+build.7');
    expect(newestSemver(['latest', 'main'])).toBeNull();
    expect([isNewerSemver('1.10.0', '1.9.0'), isNewerSemver('1.0.0', '1.0.0+b'), isNewerSemver('1.0.0', null), isNewerSemver('latest', null)]).toEqual([true, false, true, false]);
  });

  it('matches tags with the pattern as a JavaScript regular expression', () => {
    const m = matcher('^[0-9]+[.][0-9]+[.][0-9]+$');
    expect(['1.4.2', 'v1.4.2', '1.4.2-rc.1', 'latest'].filter(m)).toEqual(['1.4.2']);
  });
});

describe('Link headers', () => {
  it('finds rel="next" among links and parameters (RFC 8288), and nothing without one', () => {
    expect(nextLink('</v2/web/tags/list?last=b&n=2>; rel="next"')).toBe('/v2/web/tags/list?last=b&n=2');
    expect(nextLink('<https://x/a>; rel="prev", </v2/web/tags/list?last=c>; type="x"; rel=next')).toBe('/v2/web/tags/list?last=c');
    expect(nextLink('</a>; rel="prev"')).toBeNull();
    expect(nextLink(null)).toBeNull();
  });
});

const reg = await startRegistryOrSkip('tag list paging (src/autodeploy/tags.test.ts)');
afterAll(() => reg?.stop());

describe.skipIf(!reg)('the tag list of a real registry', () => {
  // Debian's docker-registry (Distribution 2.8) answers the whole list in one page whatever n asks;
  // paging as the OCI spec describes it (Distribution 3 does it) is checked against a fake below.
  it('reads every tag, and says notfound for a repository nobody pushed to', async () => {
    const r = reg!;
    for (const tag of ['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'latest']) await pushImage(r.url, 'paged/web', tag, { layers: [tag] });
    const client = new RegistryClient([{ host: r.host, insecure: true, username: null, password: null, token: null }]);
    const listed = await client.listTags(`${r.host}/paged/web`, 2);
    expect(listed.phase === 'ok' ? [...listed.tags].sort() : listed).toEqual(['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'latest']);
    expect(await client.listTags(`${r.host}/nobody/here`)).toEqual({ phase: 'notfound', detail: `repository ${r.host}/nobody/here not found` });
  });
});

/** A fake registry (named as such) paging its tag list as the OCI distribution spec says: `n`, `last`, and a Link to the next page. */
async function pagingRegistry(tags: string[], link: (last: string, n: number) => string = (last, n) => `</v2/web/tags/list?n=${n}&last=${last}>; rel="next"`) {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const n = Number(url.searchParams.get('n') ?? 1000);
    const last = url.searchParams.get('last');
    const from = last === null ? 0 : tags.indexOf(last) + 1;
    const page = tags.slice(from, from + n);
    const more = from + n < tags.length;
    res.writeHead(200, { 'content-type': 'application/json', ...(more ? { link: link(page[page.length - 1]!, n) } : {}) })
      .end(JSON.stringify({ name: 'web', tags: page }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { host, client: new RegistryClient([{ host, insecure: true, username: null, password: null, token: null }]), stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

describe('the tag list, page by page (fake registry)', () => {
  it('follows each Link to the next page until there is none', async () => {
    const f = await pagingRegistry(['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'latest']);
    try {
      expect(await f.client.listTags(`${f.host}/web`, 2)).toEqual({ phase: 'ok', tags: ['1.0.0', '1.1.0', '1.2.0', '2.0.0', 'latest'], pages: 3 });
    } finally {
      await f.stop();
    }
  });

  it('refuses a next page on another host or path, and a Link back to a page already read', async () => {
    const away = await pagingRegistry(['a', 'b', 'c'], () => '<http://198.51.100.7/v2/web/tags/list?last=a>; rel="next"');
    const loop = await pagingRegistry(['a', 'b', 'c'], () => '</v2/web/tags/list?n=1>; rel="next"');
    try {
      expect(await away.client.listTags(`${away.host}/web`, 1)).toEqual({ phase: 'error', detail: `the tags of ${away.host}/web link to a next page outside the tag list (198.51.100.7/v2/web/tags/list)` });
      expect(await loop.client.listTags(`${loop.host}/web`, 1)).toEqual({ phase: 'error', detail: `the tags of ${loop.host}/web link back to a page already read` });
    } finally {
      await away.stop();
      await loop.stop();
    }
  });
});
