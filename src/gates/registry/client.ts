/**
 * A client for the subset of the OCI Distribution API (v2) that the image gates need: resolve a
 * tag to a digest, read a manifest, read a blob. Outcomes are data: a missing tag is
 * `notfound`, a registry that is down or refuses the credentials is `error` with the reason;
 * nothing here throws for them.
 *
 * Authentication follows what registries ask for: basic credentials (`username`/`password`), a
 * static bearer `token`, or the token flow (a 401 with `WWW-Authenticate: Bearer realm=…` →
 * a token from the realm, with the basic credentials when configured → the request again).
 * Credentials are sent only in headers, never put in URLs, results or messages.
 */
import { createHash } from 'node:crypto';
import type { RegistryConfig } from '../../config/types.js';
import { DOCKER_HUB, parseImageReference, parseRepositoryName, repositoryName, type ImageReference } from './reference.js';

/** Manifest media types Gangway asks for, newest first. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** Outcome of {@link RegistryClient.resolve}. */
export type ResolveResult =
  | { phase: 'ok'; digest: string; mediaType: string }
  | { phase: 'notfound'; detail: string }
  | { phase: 'error'; detail: string };

/** Outcome of {@link RegistryClient.getManifest}: the manifest's bytes (digest-checked) and its JSON. */
export type ManifestResult =
  | { phase: 'ok'; digest: string; mediaType: string; body: Buffer; manifest: unknown }
  | { phase: 'notfound'; detail: string }
  | { phase: 'error'; detail: string };

/** Outcome of {@link RegistryClient.getBlob}: the blob's bytes, whose sha256 matched the digest asked for. */
export type BlobResult =
  | { phase: 'ok'; digest: string; body: Buffer }
  | { phase: 'notfound'; detail: string }
  | { phase: 'error'; detail: string };

/** Outcome of {@link RegistryClient.listTags}: every tag of the repository, or why the list is not complete. */
export type TagListResult =
  | { phase: 'ok'; tags: string[]; pages: number }
  | { phase: 'notfound'; detail: string }
  | { phase: 'error'; detail: string };

/** Tags asked for per page of the tag list. */
export const TAG_PAGE_SIZE = 100;
/** Pages of one tag list read at most: a registry sending `Link` forever is an error, not a hang. */
const MAX_TAG_PAGES = 1000;

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Time limit of one HTTP request (a token fetch counts as its own request). Default 10000. */
  timeoutMs?: number;
  /** Largest blob read, in bytes. Default 16 MiB: the gates read signature payloads, not layers. */
  maxBlobBytes?: number;
}

/** The Distribution spec's recommended limit for a manifest. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Docker Hub's API lives on another host than its references name. */
const DOCKER_HUB_API = 'registry-1.docker.io';
/** A bearer token without `expires_in` lives 60 s (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

type Failure = { phase: 'notfound'; detail: string } | { phase: 'error'; detail: string };
type Sent = { ok: true; res: Response } | { ok: false; detail: string };

interface Challenge { scheme: string; params: Record<string, string> }

/**
 * Asks registries about images.
 *
 * @example
 * const client = new RegistryClient(config.registries, { timeoutMs: 5000 });
 * const r = await client.resolve('127.0.0.1:5000/web:1.4.2');
 * if (r.phase === 'ok') console.log(r.digest); // sha256:…
 */
export class RegistryClient {
  private readonly timeoutMs: number;
  private readonly maxBlobBytes: number;
  /** Bearer tokens from token services, by `host scope`. */
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(private readonly registries: readonly RegistryConfig[], opts: RegistryClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBlobBytes = opts.maxBlobBytes ?? 16 * 1024 * 1024;
  }

  /**
   * Resolves a reference to the digest of its manifest (for a multi-platform image, the
   * index's digest). A reference that names a digest is checked to exist. Uses HEAD, and GET
   * with a sha256 of the body when the registry sends no `Docker-Content-Digest`. Idempotent.
   * Throws `InvalidImageReferenceError` only for a string that is not an image reference.
   */
  async resolve(ref: ImageReference | string): Promise<ResolveResult> {
    const parsed = typeof ref === 'string' ? parseImageReference(ref) : ref;
    const reference = parsed.digest ?? parsed.tag ?? 'latest';
    const repo = repositoryName(parsed);
    const sent = await this.send(parsed.registry, parsed.repository, 'HEAD', `/manifests/${reference}`, { accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (!sent.ok) return { phase: 'error', detail: sent.detail };
    const { res } = sent;
    await drain(res);
    if (res.status === 404) return notFound(repo, reference);
    // Some registries and proxies answer HEAD with 405; GET gives the same answer with a body.
    const headless = res.status === 405 || res.status === 501;
    if (res.status !== 200 && !headless) return { phase: 'error', detail: await statusDetail(parsed.registry, res, 'HEAD', repo, reference) };
    const digest = headless ? null : res.headers.get('docker-content-digest');
    const mediaType = contentType(res);
    if (digest) {
      if (parsed.digest && digest !== parsed.digest) {
        return { phase: 'error', detail: `registry ${parsed.registry} answered digest ${digest} for ${repo}@${parsed.digest}` };
      }
      return { phase: 'ok', digest, mediaType };
    }
    const got = await this.getManifest(repo, reference);
    if (got.phase !== 'ok') return got;
    return { phase: 'ok', digest: got.digest, mediaType: got.mediaType };
  }

  /**
   * Reads a manifest by tag or digest from `repo` (`host[:port]/path`). Its sha256 is computed
   * from the bytes and must match the digest asked for and the one the registry names. Idempotent.
   * Throws `InvalidImageReferenceError` only for a `repo` that is not a repository name.
   */
  async getManifest(repo: string, reference: string): Promise<ManifestResult> {
    const name = parseRepositoryName(repo);
    const full = repositoryName(name);
    const sent = await this.send(name.registry, name.repository, 'GET', `/manifests/${reference}`, { accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (!sent.ok) return { phase: 'error', detail: sent.detail };
    const { res } = sent;
    if (res.status === 404) { await drain(res); return notFound(full, reference); }
    if (res.status !== 200) return { phase: 'error', detail: await statusDetail(name.registry, res, 'GET', full, reference) };
    const body = await readLimited(res, MAX_MANIFEST_BYTES);
    if (body === null) return { phase: 'error', detail: `manifest ${reference} in ${full} is larger than ${MAX_MANIFEST_BYTES} bytes` };
    const digest = sha256(body);
    const named = res.headers.get('docker-content-digest');
    const expected = isDigest(reference) ? reference : named?.startsWith('sha256:') ? named : null;
    if (expected !== null && expected !== digest) {
      return { phase: 'error', detail: `manifest ${reference} in ${full} does not match its digest (${expected} expected, its bytes are ${digest})` };
    }
    let manifest: unknown;
    try {
      manifest = JSON.parse(body.toString('utf8'));
    } catch {
      return { phase: 'error', detail: `manifest ${reference} in ${full} is not JSON` };
    }
    const declared = typeof manifest === 'object' && manifest !== null && typeof (manifest as { mediaType?: unknown }).mediaType === 'string'
      ? (manifest as { mediaType: string }).mediaType : null;
    return { phase: 'ok', digest, mediaType: contentType(res) || declared || '', body, manifest };
  }

  /**
   * Reads a blob from `repo` (`host[:port]/path`); its bytes must hash to `digest` (sha256).
   * Idempotent. Throws `InvalidImageReferenceError` only for a `repo` that is not a repository name.
   */
  async getBlob(repo: string, digest: string): Promise<BlobResult> {
    const name = parseRepositoryName(repo);
    const full = repositoryName(name);
    if (!isDigest(digest)) return { phase: 'error', detail: `blob digest ${digest} is not a sha256 digest` };
    const sent = await this.send(name.registry, name.repository, 'GET', `/blobs/${digest}`, {});
    if (!sent.ok) return { phase: 'error', detail: sent.detail };
    const { res } = sent;
    if (res.status === 404) { await drain(res); return { phase: 'notfound', detail: `blob ${digest} not found in ${full}` }; }
    if (res.status !== 200) return { phase: 'error', detail: await statusDetail(name.registry, res, 'GET', full, digest) };
    const body = await readLimited(res, this.maxBlobBytes);
    if (body === null) return { phase: 'error', detail: `blob ${digest} in ${full} is larger than ${this.maxBlobBytes} bytes` };
    const actual = sha256(body);
    if (actual !== digest) return { phase: 'error', detail: `blob ${digest} in ${full} does not match its digest (its bytes are ${actual})` };
    return { phase: 'ok', digest, body };
  }

  /**
   * Lists every tag of `repo` (`host[:port]/path`) as the Distribution spec pages it:
   * `GET /v2/<name>/tags/list?n=…`, then the URL of each `Link: <…>; rel="next"` until there is
   * none. The result is all or nothing: a page that fails, is not the spec's JSON, or names
   * another repository makes the whole list an `error`, so a caller never acts on half a list.
   * A repository the registry does not know is `notfound`. Idempotent.
   * Throws `InvalidImageReferenceError` only for a `repo` that is not a repository name.
   *
   * @example
   * const r = await client.listTags('127.0.0.1:5000/shop/web');
   * if (r.phase === 'ok') console.log(r.tags); // ['1.0.0', '1.1.0', …]
   */
  async listTags(repo: string, pageSize = TAG_PAGE_SIZE): Promise<TagListResult> {
    const name = parseRepositoryName(repo);
    const full = repositoryName(name);
    const base = `/v2/${name.repository}/tags/list`;
    const tags: string[] = [];
    const seenPages = new Set<string>();
    let query = `?n=${pageSize}`;
    for (let page = 1; page <= MAX_TAG_PAGES; page++) {
      seenPages.add(query);
      const sent = await this.send(name.registry, name.repository, 'GET', `/tags/list${query}`, { accept: 'application/json' });
      if (!sent.ok) return { phase: 'error', detail: sent.detail };
      const { res } = sent;
      if (res.status === 404) {
        await drain(res);
        return page === 1 ? { phase: 'notfound', detail: `repository ${full} not found` } : { phase: 'error', detail: `page ${page} of the tags of ${full} answered 404` };
      }
      if (res.status !== 200) return { phase: 'error', detail: await statusDetail(name.registry, res, 'GET', full, 'the tag list') };
      const body = await readLimited(res, MAX_MANIFEST_BYTES);
      if (body === null) return { phase: 'error', detail: `a page of the tags of ${full} is larger than ${MAX_MANIFEST_BYTES} bytes` };
      let json: { name?: unknown; tags?: unknown };
      try {
        json = JSON.parse(body.toString('utf8')) as typeof json;
      } catch {
        return { phase: 'error', detail: `page ${page} of the tags of ${full} is not JSON` };
      }
      // Distribution answers `"tags": null` for a repository whose tags were all deleted.
      const list = json.tags === null ? [] : json.tags;
      if (!Array.isArray(list) || !list.every((t): t is string => typeof t === 'string')) {
        return { phase: 'error', detail: `page ${page} of the tags of ${full} has no list of tags` };
      }
      tags.push(...list);
      const next = nextLink(res.headers.get('link'));
      if (next === null) return { phase: 'ok', tags: [...new Set(tags)], pages: page };
      let url: URL;
      try {
        url = new URL(next, `${this.baseUrl(name.registry)}${base}`);
      } catch {
        return { phase: 'error', detail: `the tags of ${full} link to a next page that is not a URL` };
      }
      // Only the next page of this list is followed: never another path or host, where the credentials would go.
      if (url.pathname !== base || url.host !== new URL(this.baseUrl(name.registry)).host) {
        return { phase: 'error', detail: `the tags of ${full} link to a next page outside the tag list (${url.host}${url.pathname})` };
      }
      query = url.search || '?';
      if (seenPages.has(query)) return { phase: 'error', detail: `the tags of ${full} link back to a page already read` };
    }
    return { phase: 'error', detail: `the tags of ${full} span more than ${MAX_TAG_PAGES} pages` };
  }

  private config(host: string): RegistryConfig | undefined {
    const wanted = host.toLowerCase();
    return this.registries.find((r) => r.host.toLowerCase() === wanted);
  }

  private baseUrl(host: string): string {
    const cfg = this.config(host);
    // A registry not listed in `registries` is asked anonymously over HTTPS, as the config reference says.
    const insecure = cfg?.insecure ?? false;
    const apiHost = host === DOCKER_HUB ? DOCKER_HUB_API : host;
    return `${insecure ? 'http' : 'https'}://${apiHost}`;
  }

  /** Sends one API request, answering a bearer challenge once. A 401 that remains is an error. */
  private async send(host: string, repository: string, method: 'GET' | 'HEAD', path: string, headers: Record<string, string>): Promise<Sent> {
    const cfg = this.config(host);
    const url = `${this.baseUrl(host)}/v2/${repository}${path}`;
    const scope = `repository:${repository}:pull`;
    const tokenKey = `${host} ${scope}`;
    const cached = this.tokens.get(tokenKey);
    let authorization: string | null = null;
    if (cfg?.token) authorization = `Bearer ${cfg.token}`;
    else if (cached && cached.expiresAt > Date.now()) authorization = `Bearer ${cached.token}`;
    else if (cfg?.username) authorization = basic(cfg);

    const first = await this.fetch(host, url, method, authorization ? { ...headers, authorization } : headers);
    if (!first.ok || first.res.status !== 401) return first;
    const challenge = parseChallenge(first.res.headers.get('www-authenticate'));
    await drain(first.res);
    if (challenge?.scheme === 'bearer' && !cfg?.token) {
      const token = await this.fetchToken(host, cfg, challenge, scope);
      if (!token.ok) return token;
      this.tokens.set(tokenKey, { token: token.token, expiresAt: Date.now() + token.seconds * 1000 });
      const second = await this.fetch(host, url, method, { ...headers, authorization: `Bearer ${token.token}` });
      if (!second.ok || second.res.status !== 401) return second;
      await drain(second.res);
      this.tokens.delete(tokenKey);
      return { ok: false, detail: refused(host) };
    }
    if (!authorization) {
      return { ok: false, detail: `registry ${host} requires credentials (401) and none are configured for it` };
    }
    return { ok: false, detail: refused(host) };
  }

  private async fetchToken(host: string, cfg: RegistryConfig | undefined, challenge: Challenge, scope: string):
    Promise<{ ok: true; token: string; seconds: number } | { ok: false; detail: string }> {
    const realm = challenge.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      return { ok: false, detail: `registry ${host} asked for a bearer token without a valid realm` };
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return { ok: false, detail: `registry ${host} asked for a bearer token from a ${url.protocol} realm` };
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (cfg?.username) headers.authorization = basic(cfg);
    const sent = await this.fetch(host, url.toString(), 'GET', headers, `token service of registry ${host}`);
    if (!sent.ok) return sent;
    const { res } = sent;
    if (res.status === 401 || res.status === 403) { await drain(res); return { ok: false, detail: refused(host, res.status) }; }
    if (res.status !== 200) { await drain(res); return { ok: false, detail: `token service of registry ${host} answered ${res.status}` }; }
    const body = await readLimited(res, 1024 * 1024);
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown } | null = null;
    try {
      json = body ? JSON.parse(body.toString('utf8')) : null;
    } catch {
      json = null;
    }
    const token = typeof json?.token === 'string' && json.token ? json.token
      : typeof json?.access_token === 'string' && json.access_token ? json.access_token : null;
    if (!token) return { ok: false, detail: `token service of registry ${host} answered without a token` };
    const seconds = typeof json?.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early so a token does not expire between use and arrival.
    return { ok: true, token, seconds: Math.max(1, seconds - 5) };
  }

  private async fetch(host: string, url: string, method: string, headers: Record<string, string>, what = `registry ${host}`): Promise<Sent> {
    try {
      const res = await fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs) });
      return { ok: true, res };
    } catch (err) {
      return { ok: false, detail: `${what} is unreachable: ${networkReason(err, this.timeoutMs)}` };
    }
  }
}

/** The target of `Link: <url>; rel="next"` (RFC 8288), or null when there is none. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const m of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const params = m[2] ?? '';
    if (/;\s*rel\s*=\s*"?([^";,]*\s)*next(\s[^";,]*)*"?/i.test(params)) return m[1]!;
  }
  return null;
}

function refused(host: string, status = 401): string {
  return `registry ${host} refused the credentials (${status})`;
}

function basic(cfg: RegistryConfig): string {
  return `Basic ${Buffer.from(`${cfg.username ?? ''}:${cfg.password ?? ''}`, 'utf8').toString('base64')}`;
}

function notFound(repo: string, reference: string): Failure {
  return { phase: 'notfound', detail: isDigest(reference) ? `manifest ${reference} not found in ${repo}` : `tag ${reference} not found in ${repo}` };
}

function isDigest(s: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

function contentType(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
}

/** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  switch (cause?.code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'ECONNRESET': case 'UND_ERR_SOCKET': return 'connection reset';
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return 'connection timed out';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'no route to host';
    default: break;
  }
  if (cause?.code?.startsWith('ERR_SSL_') || cause?.code === 'EPROTO') {
    return `TLS handshake failed (${cause.code}); a registry that speaks plain HTTP needs insecure: true in registries`;
  }
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

async function statusDetail(host: string, res: Response, method: string, repo: string, reference: string): Promise<string> {
  const body = method === 'HEAD' ? null : await readLimited(res, 64 * 1024).catch(() => null);
  let said = '';
  if (body) {
    try {
      const json = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
      const e = json.errors?.[0];
      if (e) said = `: ${[e.code, e.message].filter(Boolean).join(' ')}`;
    } catch {
      // Not the registry's JSON error shape; the status says enough.
    }
  } else {
    await drain(res);
  }
  if (res.status === 403) return `registry ${host} denied access to ${repo} (403)${said}`;
  return `registry ${host} answered ${res.status} for ${reference} in ${repo}${said}`;
}

/** Reads the body up to `max` bytes; null when it is larger. */
async function readLimited(res: Response, max: number): Promise<Buffer | null> {
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > max) { await drain(res); return null; }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) { await reader.cancel(); return null; }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already consumed or closed.
  }
}
