/**
 * Connections of the Kubernetes target: one API client per kubeconfig, context and timeout,
 * made on first use and kept for the orchestrator's life. The client's faults become Gangway's:
 * a cluster that cannot be reached is `unreachable` (the runner retries the step), a kubeconfig
 * that cannot be used is `invalid_config` naming the file and the context.
 */
import type { KubeAccess } from '../../config/helm.js';
import { GangwayError, UnreachableError } from '../../errors.js';
import type { KubeApi, KubeConnection } from './api.js';
import { KubeAuthPluginError, KubeClient, KubeConfigError, KubeNoKindMatchError, KubeUnreachableError, UnknownKindError, loadKubeConfig } from './client/index.js';
import type { KubeObject } from './objects.js';

/** Options of `kubeConnector`: where a kubeconfig without a path is looked for (tests point it elsewhere). */
export interface KubeConnectorOptions {
  env?: NodeJS.ProcessEnv;
  serviceAccountDir?: string;
}

/** Opens connections for target configs, one client per cluster identity; `close()` ends them all. */
export interface KubeConnector {
  connect(k: KubeAccess): Promise<KubeConnection>;
  close(): Promise<void>;
}

/**
 * A connector that caches its clients by kubeconfig, context and request timeout.
 *
 * @example
 * const connector = kubeConnector();
 * const { api, namespace } = await connector.connect(cfg.target);
 */
export function kubeConnector(opts: KubeConnectorOptions = {}): KubeConnector {
  const clients = new Map<string, { client: KubeClient; api: KubeApi; namespace: string; server: string; context: string }>();
  return {
    async connect(k) {
      const key = `${k.kubeconfig ?? ''}\u0000${k.context ?? ''}\u0000${k.requestTimeoutMs}`;
      let entry = clients.get(key);
      if (!entry) {
        let client: KubeClient;
        try {
          const conn = loadKubeConfig({ path: k.kubeconfig, context: k.context, env: opts.env, serviceAccountDir: opts.serviceAccountDir });
          client = KubeClient.fromConfig(conn, { timeoutMs: k.requestTimeoutMs });
        } catch (err) {
          throw translate(err);
        }
        entry = { client, api: wrap(client), namespace: client.namespace, server: client.server, context: client.context };
        clients.set(key, entry);
      }
      return { api: entry.api, server: entry.server, context: entry.context, namespace: k.namespace ?? entry.namespace };
    },
    async close() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((e) => e.client.close()));
    },
  };
}

/** The client's faults as Gangway's; anything else (an API error such as 403 or 422) passes unchanged. */
function translate(err: unknown): unknown {
  if (err instanceof KubeUnreachableError) return new UnreachableError(err.message, 'check that the cluster is up and the kubeconfig points at it', { cause: err });
  if (err instanceof KubeConfigError) return new GangwayError('invalid_config', err.message, 'fix the kubeconfig, or set target.kubernetes.kubeconfig and context', undefined, { cause: err });
  if (err instanceof KubeAuthPluginError) return new GangwayError('unauthorized', err.message, 'run the credential plugin by hand to see why it fails', undefined, { cause: err });
  if (err instanceof KubeNoKindMatchError || err instanceof UnknownKindError) {
    return new GangwayError('invalid_argument', err.message, 'install the CRD first, or fix the manifest\'s apiVersion and kind (`kubectl api-resources` lists what the cluster serves)', undefined, { cause: err });
  }
  return err;
}

/** The target's view of the client, with the client's faults translated. */
function wrap(c: KubeClient): KubeApi {
  const guard = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw translate(err);
    }
  };
  return {
    get: <T extends KubeObject>(kind: string, ns: string, name: string) => guard(() => c.get(kind, ns, name) as Promise<T | null>),
    list: <T extends KubeObject>(kind: string, ns: string, o?: { labelSelector?: string }) => guard(() => c.list(kind, ns, o) as Promise<{ items: T[]; resourceVersion: string }>),
    apply: <T extends KubeObject>(obj: KubeObject, o?: { force?: boolean }) => guard(() => c.apply(obj as Parameters<KubeClient['apply']>[0], o) as Promise<T>),
    patch: <T extends KubeObject>(kind: string, ns: string, name: string, body: unknown, type: 'merge' | 'json' | 'strategic') => guard(() => c.patch(kind, ns, name, body, type) as Promise<T>),
    delete: (kind, ns, name, o) => guard(() => c.delete(kind, ns, name, o)),
    logs: (ns, pod, o) => guard(async () => {
      const out = await c.logs(ns, pod, { ...o, follow: false });
      return typeof out === 'string' ? out : '';
    }),
    proxyUrl: (ns, to, name, port, path) => c.proxyUrl(ns, to, name, port, path),
    authHeaders: () => guard(() => c.authHeaders()),
    get dispatcher() {
      return c.dispatcher;
    },
  };
}
