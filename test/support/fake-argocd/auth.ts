/**
 * Authentication and RBAC of the FAKE Argo CD. Tokens are bearer tokens (`Authorization:
 * Bearer …`, or the `argocd.token` cookie the UI uses); the ones the fake mints are HS256 JWTs
 * with Argo CD's claims (`iss: argocd`, `sub`, `iat`, `nbf`, `jti`), and a test may also give
 * opaque tokens of its own. The wording is upstream's (server/server.go, util/rbac/rbac.go):
 * no token → 401 `no session information`; an unknown token → 401 `invalid session: …`; an RBAC
 * refusal → 403 `permission denied`, with the detailed form
 * `permission denied: applications, sync, default/web, sub: alice, iat: …` where upstream uses
 * `EnforceErr` directly (the sync check).
 *
 * Simplified: there is no policy language: every user may do everything unless a deny rule
 * (`deny({ user, app, action })`) says otherwise; no SSO, no anonymous access, no expiry.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Code, GrpcError, permissionDenied } from './errors.js';
import { metaTime } from './types.js';

/** An RBAC action on `applications` (rbacpolicy.Action*). */
export type RbacAction = 'get' | 'create' | 'update' | 'delete' | 'sync' | 'override' | 'action';

/** Who made a request. */
export interface Principal {
  /** The `sub` claim; Argo CD's `session.Username` for tokens it issued. */
  readonly username: string;
  /** The `iat` claim (seconds). */
  readonly iat: number;
}

/** Refuses matching requests with 403. Absent fields match everything. */
export interface DenyRule {
  user?: string;
  /** Application name. */
  app?: string;
  action?: RbacAction;
}

function b64url(v: string | Buffer): string {
  return Buffer.from(v).toString('base64url');
}

/** Tokens and deny rules. */
export class Authority {
  readonly #secret = randomBytes(32);
  readonly #tokens = new Map<string, Principal>();
  readonly #revoked = new Set<string>();
  readonly #rules = new Set<DenyRule>();

  /** Mints a JWT for `username` and accepts it. */
  mint(username: string): string {
    const iat = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(JSON.stringify({ iss: 'argocd', sub: username, nbf: iat, iat, jti: randomUUID() }));
    const sig = createHmac('sha256', this.#secret).update(`${header}.${payload}`).digest('base64url');
    const token = `${header}.${payload}.${sig}`;
    this.#tokens.set(token, { username, iat });
    return token;
  }

  /** Accepts a token chosen by the test (any string) for `username`. */
  accept(token: string, username: string): void {
    this.#revoked.delete(token);
    this.#tokens.set(token, { username, iat: Math.floor(Date.now() / 1000) });
  }

  /** Refuses a token from now on (401). */
  revoke(token: string): void {
    if (this.#tokens.delete(token)) this.#revoked.add(token);
  }

  /** The principal of a request, or a 401 GrpcError with upstream's wording. */
  authenticate(authorization: string | undefined, cookie: string | undefined): Principal {
    let token = '';
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (m) token = m[1].trim();
    else {
      const c = /(?:^|;\s*)argocd\.token=([^;]+)/.exec(cookie ?? '');
      if (c) token = decodeURIComponent(c[1]);
    }
    if (!token) throw new GrpcError(Code.Unauthenticated, 'no session information');
    const p = this.#tokens.get(token);
    if (p) return p;
    if (this.#revoked.has(token)) throw new GrpcError(Code.Unauthenticated, 'invalid session: token is revoked, please re-login');
    if (token.split('.').length !== 3) throw new GrpcError(Code.Unauthenticated, 'invalid session: token contains an invalid number of segments');
    throw new GrpcError(Code.Unauthenticated, 'invalid session: signature is invalid');
  }

  /** Adds a deny rule; returns a function that lifts it. */
  deny(rule: DenyRule): () => void {
    const r = { ...rule };
    this.#rules.add(r);
    return () => { this.#rules.delete(r); };
  }

  /** rbac `Enforce`: whether `p` may do `action` on the application `project/app`. */
  enforce(p: Principal, action: RbacAction, app: string): boolean {
    for (const r of this.#rules) {
      if ((r.user === undefined || r.user === p.username) && (r.app === undefined || r.app === app) && (r.action === undefined || r.action === action)) return false;
    }
    return true;
  }

  /** rbac `EnforceErr`: throws the detailed 403 when refused. */
  enforceErr(p: Principal, action: RbacAction, project: string, app: string): void {
    if (this.enforce(p, action, app)) return;
    throw new GrpcError(Code.PermissionDenied, `permission denied: applications, ${action}, ${project}/${app}, sub: ${p.username}, iat: ${metaTime(p.iat * 1000)}`);
  }

  /** The plain `permission denied` of the application endpoints' first check. */
  enforcePlain(p: Principal, action: RbacAction, app: string): void {
    if (!this.enforce(p, action, app)) throw permissionDenied();
  }
}
