/**
 * Serves the dashboard (the React app built from web/ into web/dist/) at `/`.
 *
 * Static files need no authentication: they hold no data, and the app calls the API with the
 * session cookie. The rules:
 * - a file under web/dist is sent with its content type; never a directory listing;
 * - Vite's hashed bundles under /assets/ never change, so they are cached for a year
 *   (`immutable`); index.html is revalidated on every load so a new build shows at once;
 * - any other GET path that names no file (/deployments/abc, /history) gets index.html, so the
 *   app's own routes survive a reload; /v1/… stays the API's (a JSON 404 for an unknown route),
 *   and a missing /assets/ file is a 404 rather than an HTML page parsed as a script.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build` puts the dashboard: web/dist at the package root (same depth from src/server and dist/server). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** The content type of a file by its extension; undefined for one not served as such. */
function contentTypeOf(path: string): string | undefined {
  const ext = extname(path).toLowerCase();
  return Object.hasOwn(CONTENT_TYPES, ext) ? CONTENT_TYPES[ext] : undefined;
}

/**
 * The page's security policy: scripts and API calls from this origin only, and no framing, so
 * another site cannot overlay the approve button (clickjacking). Inline style attributes stay
 * allowed because the charts position SVG text with them.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gangway</title></head>
<body><h1>The Gangway dashboard is not built</h1><p>Run <code>npm run build</code> in the Gangway folder, then reload. The API is served at <code>/v1</code>.</p></body></html>`;

/** Options of {@link registerDashboard}. */
export interface DashboardOptions {
  /** The built dashboard's folder; defaults to {@link DASHBOARD_DIR}. Tests point it elsewhere. */
  dir?: string;
}

/** True for paths the dashboard must leave to the API or the server's own routes. */
export function isApiPath(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

/**
 * The file under `root` a URL path names, or null when it would leave `root` (`..`, encoded
 * slashes or NUL bytes) or cannot be decoded. Never touches the file system.
 *
 * @example
 * resolveAsset('/srv/dist', '/assets/index-abc.js') // '/srv/dist/assets/index-abc.js'
 * resolveAsset('/srv/dist', '/../etc/passwd')        // null
 */
export function resolveAsset(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const base = resolve(root);
  const full = resolve(base, '.' + (decoded.startsWith('/') ? decoded : '/' + decoded));
  if (full !== base && !full.startsWith(base + sep)) return null;
  return full;
}

async function fileAt(path: string): Promise<Buffer | null> {
  try {
    const s = await stat(path);
    // A directory is never listed; the SPA fallback answers for it instead.
    if (!s.isFile()) return null;
    return await readFile(path);
  } catch {
    return null;
  }
}

/**
 * Registers GET (and, through Fastify, HEAD) `/` and `/*` serving the dashboard. Routes
 * registered elsewhere (/v1/…, /healthz, /openapi.json, /metrics) win over the wildcard in
 * Fastify's router; unknown /v1 paths are handed to the not-found handler so they keep the
 * API's JSON error shape.
 *
 * @example
 * registerDashboard(app);                      // serves web/dist
 * registerDashboard(app, { dir: '/tmp/dist' }); // serves another build
 */
export function registerDashboard(app: FastifyInstance, opts: DashboardOptions = {}): void {
  const root = opts.dir ?? DASHBOARD_DIR;

  const sendIndex = async (reply: FastifyReply) => {
    const index = await fileAt(join(root, 'index.html'));
    reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');
    if (!index) return reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT);
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?', 1)[0];
    if (isApiPath(path)) return reply.callNotFound();
    if (path === '/' || path === '/index.html') return sendIndex(reply);
    const file = resolveAsset(root, path);
    const body = file ? await fileAt(file) : null;
    if (body && file) {
      const type = contentTypeOf(file) ?? 'application/octet-stream';
      const hashed = path.startsWith('/assets/');
      return reply
        .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .type(type)
        .send(body);
    }
    // A missing bundle must not come back as HTML: the browser would try to run it as a script.
    if (path.startsWith('/assets/') || contentTypeOf(path) !== undefined) return reply.callNotFound();
    return sendIndex(reply);
  };

  app.get('/', handler);
  app.get('/*', handler);
}
