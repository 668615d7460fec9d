/**
 * The subset of a Kubernetes API client the Kubernetes target uses. The target depends on this
 * shape, not on the client's whole surface, so its logic is tested against the fake API server
 * through the real client, and the client can change underneath without touching the target.
 */
import type { Dispatcher } from 'undici';
import type { KubeObject } from './objects.js';

/** Calls on one cluster with one identity. `kind` is the object's kind (`Deployment`, `Service`, `HTTPRoute` …). */
export interface KubeApi {
  /** The object, or null when it does not exist. */
  get<T extends KubeObject = KubeObject>(kind: string, namespace: string, name: string): Promise<T | null>;
  /** Objects of a kind in a namespace, filtered by a label selector (`a=b,c=d`). */
  list<T extends KubeObject = KubeObject>(kind: string, namespace: string, opts?: { labelSelector?: string }): Promise<{ items: T[]; resourceVersion: string }>;
  /** Server-side apply under Gangway's field manager; `force` takes fields other managers own. */
  apply<T extends KubeObject = KubeObject>(obj: KubeObject, opts?: { force?: boolean }): Promise<T>;
  /** A JSON merge patch (or JSON patch, or strategic merge patch). */
  patch<T extends KubeObject = KubeObject>(kind: string, namespace: string, name: string, body: unknown, type: 'merge' | 'json' | 'strategic'): Promise<T>;
  /** Deletes an object; an object already gone is not an error. */
  delete(kind: string, namespace: string, name: string, opts?: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' }): Promise<void>;
  /** The last lines of a pod's log; `previous`: of the container's run before its last restart. */
  logs(namespace: string, pod: string, opts?: { container?: string; tailLines?: number; previous?: boolean }): Promise<string>;
  /** A URL on the API server that proxies to a pod's or a Service's port. */
  proxyUrl(namespace: string, to: 'pods' | 'services', name: string, port: number | string | null, path: string): string;
  /** The headers that authenticate a request to the API server (a bearer token), fresh on each call. */
  authHeaders(): Promise<Record<string, string>>;
  /** The HTTP dispatcher carrying the cluster's TLS settings (CA, client certificate). */
  readonly dispatcher: Dispatcher;
}

/** A connection to the cluster of a service's target: the API, its server URL and the namespace to use. */
export interface KubeConnection {
  api: KubeApi;
  server: string;
  namespace: string;
  context: string;
}
