/**
 * Who may call which route: one table, read by the authorization hook in auth.ts. Every
 * route of the API is listed; a route under /v1 that is missing here needs a global admin,
 * so a forgotten entry fails closed.
 *
 * Roles are ordered viewer < deployer < approver < admin and held per environment (or for
 * every environment, `*`). The environment a request acts in comes from its body, its
 * query, the deployment it names, or the freeze it names.
 */
import type { Role } from '../store/types.js';

/** Where the environment of a request is read from. */
export type EnvironmentSource =
  /** `body.environment` */
  | 'body'
  /** `query.environment` */
  | 'query'
  /** The environment of the deployment `:id` names (looked up through the orchestrator). */
  | 'deployment'
  /** The environment of the freeze `:id` names. */
  | 'freeze'
  /** The environment of the release (group) `:id` names. */
  | 'release'
  /** None: the role must be held for every environment (`*`). */
  | 'global';

/** What a route requires. */
export type RoutePermission =
  /** Anyone, signed in or not. */
  | { access: 'public' }
  /** Any authenticated principal, whatever its roles. */
  | { access: 'signed-in' }
  /**
   * At least `role` in the request's environment. When the request names none (or names a
   * deployment or freeze that does not exist) `whenMissing` decides: `any` — the role in at
   * least one environment (the route itself answers 400/404); `global` — the role for every
   * environment (a freeze without an environment covers them all).
   */
  | { access: 'role'; role: Role; environment: EnvironmentSource; whenMissing: 'any' | 'global' };

const viewer = (environment: EnvironmentSource = 'query'): RoutePermission => ({ access: 'role', role: 'viewer', environment, whenMissing: 'any' });
const deployer = (environment: EnvironmentSource): RoutePermission => ({ access: 'role', role: 'deployer', environment, whenMissing: 'any' });
const approver: RoutePermission = { access: 'role', role: 'approver', environment: 'deployment', whenMissing: 'any' };
const globalAdmin: RoutePermission = { access: 'role', role: 'admin', environment: 'global', whenMissing: 'global' };

/**
 * Every route, as `METHOD /path` with Fastify's `:param` syntax, and what it requires.
 * HEAD requests follow their GET route.
 */
export const ROUTE_PERMISSIONS: Readonly<Record<string, RoutePermission>> = {
  'GET /healthz': { access: 'public' },
  'GET /livez': { access: 'public' },
  'GET /readyz': { access: 'public' },
  'GET /openapi.json': viewer(),
  'GET /metrics': viewer(),

  'POST /v1/session': { access: 'public' },
  'GET /v1/session': { access: 'signed-in' },
  'DELETE /v1/session': { access: 'signed-in' },

  'GET /v1/status': viewer(),
  'GET /v1/deployments': viewer(),
  'GET /v1/deployments/:id': viewer('deployment'),
  'GET /v1/deployments/:id/verdicts': viewer('deployment'),
  'GET /v1/deployments/:id/samples': viewer('deployment'),
  'GET /v1/deployments/:id/approvals': viewer('deployment'),
  'GET /v1/deployments/:id/checklist': viewer('deployment'),
  'GET /v1/logs': viewer(),
  'GET /v1/timeline': viewer(),
  'GET /v1/events': viewer(),
  'GET /v1/events/stream': viewer(),
  'GET /v1/freezes': viewer(),
  'GET /v1/audit/verify': viewer(),
  'GET /v1/audit/export': viewer(),
  'GET /v1/dora': viewer(),
  'GET /v1/windows': viewer(),
  'GET /v1/releases': viewer(),
  'GET /v1/releases/:id': viewer('release'),

  'POST /v1/deployments': deployer('body'),
  'POST /v1/plan': deployer('body'),
  'POST /v1/rollbacks': deployer('body'),
  'POST /v1/releases': deployer('body'),
  'POST /v1/deployments/:id/abort': deployer('deployment'),
  'POST /v1/deployments/:id/promote': deployer('deployment'),
  'POST /v1/deployments/:id/retry': deployer('deployment'),

  'POST /v1/deployments/:id/approve': approver,
  'POST /v1/deployments/:id/reject': approver,
  'POST /v1/deployments/:id/checklist/:item': approver,

  'POST /v1/freezes': { access: 'role', role: 'admin', environment: 'body', whenMissing: 'global' },
  'DELETE /v1/freezes/:id': { access: 'role', role: 'admin', environment: 'freeze', whenMissing: 'global' },
  'POST /v1/freezes/:id/lift': { access: 'role', role: 'admin', environment: 'freeze', whenMissing: 'global' },
  // Incident alerts raise and lift freezes of any scope.
  'POST /v1/webhooks/alertmanager': globalAdmin,
  // CI signs the body with the environment's secret instead of sending a token (see webhook-routes.ts).
  'POST /v1/webhooks/release': { access: 'public' },
  'GET /v1/autodeploy': viewer(),
  'POST /v1/autodeploy/resume': deployer('body'),

  'GET /v1/users': globalAdmin,
  'POST /v1/users': globalAdmin,
  'DELETE /v1/users/:name': globalAdmin,
  'GET /v1/tokens': globalAdmin,
  'POST /v1/tokens': globalAdmin,
  'DELETE /v1/tokens/:id': globalAdmin,
};

/** What an unlisted route requires: nothing outside the API, a global admin inside it. */
const UNLISTED_API_ROUTE: RoutePermission = globalAdmin;

/** True for the paths that belong to the API (and so require a principal): /v1, the OpenAPI document, /metrics. */
export function isApiPath(url: string): boolean {
  const path = url.split('?', 1)[0];
  return path === '/v1' || path.startsWith('/v1/') || path === '/openapi.json' || path === '/metrics';
}

/**
 * The permission of a request, from its method, its matched route pattern (undefined when
 * no route matched) and its URL.
 *
 * @example
 * permissionOf('POST', '/v1/deployments/:id/abort', '/v1/deployments/d1/abort');
 * // { access: 'role', role: 'deployer', environment: 'deployment', whenMissing: 'any' }
 */
export function permissionOf(method: string, routeUrl: string | undefined, url: string): RoutePermission {
  const m = method === 'HEAD' ? 'GET' : method;
  if (routeUrl !== undefined) {
    const key = `${m} ${routeUrl}`;
    if (Object.hasOwn(ROUTE_PERMISSIONS, key)) return ROUTE_PERMISSIONS[key];
  }
  if (!isApiPath(url)) return { access: 'public' };
  // No route matched (or only the dashboard's catch-all, which answers 404 for API paths):
  // any principal gets the 404; a stranger still gets the 401.
  if (routeUrl === undefined || routeUrl.endsWith('*')) return { access: 'signed-in' };
  return UNLISTED_API_ROUTE;
}
