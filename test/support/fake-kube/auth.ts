/**
 * Authentication and authorization of the FAKE Kubernetes API server: bearer tokens map to
 * users (an unknown or revoked token is 401 Unauthorized, as an expired credential is for a
 * real cluster); no token is `system:anonymous`, which may read only /version and the health
 * paths; and a deny list of {verb, resource, namespace?, name?, user?} rules stands in for RBAC,
 * answering 403 Forbidden with upstream's exact message shape (`deployments.apps "web" is
 * forbidden: User "x" cannot patch resource "deployments" in API group "apps" in the namespace
 * "ns"`). Everything not denied is allowed.
 */
import { ApiError } from './status.js';

/** The verb and resource of a request, as upstream's RequestInfo computes them. */
export interface RequestAttributes {
  verb: string;
  /** True for resource requests, false for paths like /version or /api. */
  isResource: boolean;
  group: string;
  /** Plural resource name (`deployments`). */
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

/** One deny rule. Omitted fields match anything; `verb`/`resource` may be `*`. */
export interface DenyRule {
  verb: string;
  /** `deployments`, or with a subresource `pods/log`, `deployments/status`, `services/proxy`. */
  resource: string;
  namespace?: string;
  name?: string;
  user?: string;
}

/** An authenticated user. */
export interface UserInfo { name: string; groups: string[] }

const ANONYMOUS_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

/** Token → user, and the deny list. */
export class Gatekeeper {
  readonly #tokens = new Map<string, UserInfo>();
  readonly #deny: DenyRule[] = [];

  /** Accepts `token` as `user`. */
  addToken(token: string, user: string, groups: string[] = ['system:authenticated']): void {
    this.#tokens.set(token, { name: user, groups });
  }

  /** Stops accepting `token` (it then answers 401, like an expired credential). */
  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  /** Adds a deny rule; returns a function that removes it. */
  deny(rule: DenyRule): () => void {
    this.#deny.push(rule);
    return () => {
      const i = this.#deny.indexOf(rule);
      if (i >= 0) this.#deny.splice(i, 1);
    };
  }

  /** Removes every deny rule. */
  allowAll(): void {
    this.#deny.length = 0;
  }

  /** The user of an `Authorization` header; throws 401 for a token it does not know. */
  authenticate(header: string | undefined): UserInfo {
    if (!header) return { name: 'system:anonymous', groups: ['system:unauthenticated'] };
    const m = header.match(/^Bearer\s+(.+)$/i);
    const user = m ? this.#tokens.get(m[1].trim()) : undefined;
    if (!user) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    return user;
  }

  /** Throws 403 when `user` may not do `attrs`. */
  authorize(user: UserInfo, attrs: RequestAttributes): void {
    if (user.name === 'system:anonymous') {
      if (!attrs.isResource && ANONYMOUS_PATHS.has(attrs.path)) return;
      throw forbidden(user.name, attrs);
    }
    for (const r of this.#deny) {
      const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
      if (!attrs.isResource) continue;
      if (r.verb !== '*' && r.verb !== attrs.verb) continue;
      if (r.resource !== '*' && r.resource !== resource) continue;
      if (r.namespace !== undefined && r.namespace !== attrs.namespace) continue;
      if (r.name !== undefined && r.name !== attrs.name) continue;
      if (r.user !== undefined && r.user !== user.name) continue;
      throw forbidden(user.name, attrs);
    }
  }
}

/** The 403 upstream's RBAC authorizer produces. */
export function forbidden(user: string, a: RequestAttributes): ApiError {
  if (!a.isResource) {
    return new ApiError(403, 'Forbidden', `forbidden: User "${user}" cannot ${a.verb} path "${a.path}"`, {});
  }
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`,
    { ...(a.name ? { name: a.name } : {}), ...(a.group ? { group: a.group } : {}), kind: a.resource });
}
