/**
 * The ApplicationService handlers of the FAKE Argo CD, after upstream's
 * `server/application/application.go`: Get (with `refresh`), List, Sync and
 * TerminateOperation, in upstream's order of checks.
 *
 * - `getAppEnforceRBAC`: without a `project` in the request, an app that does not exist and an
 *   app the caller may not see both answer 403 `permission denied` (no existence leak); with a
 *   project, they answer 404 `applications.argoproj.io "x" not found`, as does an app of
 *   another project.
 * - Sync: get-permission (plain 403) → sync-permission (`EnforceErr`, detailed 403) → an
 *   automated app refuses another revision (`Cannot sync to x: auto-sync currently set to y`)
 *   → the revision is resolved to a commit SHA (`error resolving repo revision: …`) →
 *   `SetAppOperation` (400 `… another operation is already in progress`); it answers the
 *   Application with `operation` set and no `operationState` yet, `initiatedBy.username` the
 *   token's subject.
 * - Get with `refresh` (any value; `hard` too) re-reads Git and compares before answering, as
 *   upstream's blocking wait for the refreshed app does.
 *
 * Not served: create/update/delete of Applications, watches, resource trees, logs, manifests.
 */
import type { Authority, Principal, RbacAction } from './auth.js';
import type { AppController, SyncRequest } from './controller.js';
import { CONTROL_PLANE_NAMESPACE } from './controller.js';
import { Code, GrpcError, appNotFound, permissionDenied } from './errors.js';
import type { Application, SyncOperation } from './types.js';
import { clone } from './types.js';

/** Common query fields of the application requests. */
export interface AppQuery { project?: string; appNamespace?: string }

export class ApplicationService {
  constructor(private readonly ctl: AppController, private readonly auth: Authority) {}

  #getEnforce(p: Principal, action: RbacAction, name: string, q: AppQuery): Application {
    const project = q.project ?? '';
    if (project !== '' && !this.auth.enforce(p, action, name)) throw permissionDenied();
    // An app namespace other than Argo CD's own is not enabled: upstream hides that as "permission denied".
    const app = q.appNamespace && q.appNamespace !== CONTROL_PLANE_NAMESPACE ? undefined : this.ctl.peek(name);
    if (!app) throw project !== '' ? appNotFound(name) : permissionDenied();
    if (!this.auth.enforce(p, action, name)) throw project !== '' ? appNotFound(name) : permissionDenied();
    if (project !== '' && (app.spec.project || 'default') !== project) throw appNotFound(name);
    return app;
  }

  /** GET /api/v1/applications/{name}[?refresh=normal|hard] */
  async get(p: Principal, name: string, q: AppQuery & { refresh?: string }): Promise<Application> {
    const app = this.#getEnforce(p, 'get', name, q);
    if (q.refresh === undefined) return clone(app);
    return clone(await this.ctl.refresh(app.metadata.name, q.refresh === 'hard'));
  }

  /** GET /api/v1/applications: the apps the caller may see, by name. */
  list(p: Principal, q: { name?: string; projects: string[] }): { metadata: { resourceVersion: string }; items: Application[] } {
    const items: Application[] = [];
    let rv = 0;
    for (const n of this.ctl.names()) {
      const app = this.ctl.peek(n) as Application;
      rv = Math.max(rv, Number(app.metadata.resourceVersion));
      if (q.name !== undefined && q.name !== n) continue;
      if (q.projects.length > 0 && !q.projects.includes(app.spec.project)) continue;
      if (this.auth.enforce(p, 'get', n)) items.push(clone(app));
    }
    return { metadata: { resourceVersion: String(rv) }, items };
  }

  /** POST /api/v1/applications/{name}/sync */
  async sync(p: Principal, name: string, req: SyncRequest & AppQuery): Promise<Application> {
    const app = this.#getEnforce(p, 'get', name, req);
    this.auth.enforceErr(p, 'sync', app.spec.project, name);
    const automated = app.spec.syncPolicy?.automated;
    if (automated && !req.dryRun && req.revision && req.revision !== (app.spec.source.targetRevision || 'HEAD')) {
      throw new GrpcError(Code.FailedPrecondition, `Cannot sync to ${req.revision}: auto-sync currently set to ${app.spec.source.targetRevision}`);
    }
    const revision = await this.ctl.resolveSyncRevision(name, req.revision);
    const syncOptions = req.syncOptions ?? app.spec.syncPolicy?.syncOptions;
    const op: SyncOperation = {
      revision,
      ...(req.prune ? { prune: true } : {}),
      ...(req.dryRun ? { dryRun: true } : {}),
      ...(syncOptions && syncOptions.length > 0 ? { syncOptions: [...syncOptions] } : {}),
      ...(req.strategy ? { syncStrategy: clone(req.strategy) } : {}),
      ...(req.resources && req.resources.length > 0 ? { resources: clone(req.resources) } : {}),
    };
    return clone(this.ctl.setOperation(name, op, { username: p.username }, req.infos));
  }

  /** DELETE /api/v1/applications/{name}/operation */
  terminate(p: Principal, name: string, q: AppQuery): Record<string, never> {
    this.#getEnforce(p, 'sync', name, q);
    this.ctl.terminate(name);
    return {};
  }
}
