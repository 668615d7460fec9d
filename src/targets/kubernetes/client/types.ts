/**
 * Shapes shared by the client and its watch loop: objects as JSON, one transport request and
 * its answer, and the slice of the client a watch uses. A file of its own so that watch.ts
 * depends on this contract, not on client.ts (which imports watch.ts).
 */
import type { Dispatcher } from 'undici';
import type { KubeCallInfo, KubeStatus } from './errors.js';

/** Any Kubernetes object as sent and received. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [field: string]: unknown };
  [field: string]: unknown;
}

/**
 * Which objects a call is about: a built-in kind by name (`'Deployment'`, see `RESOURCES`), or
 * any kind with its apiVersion (`{ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }`),
 * found by API discovery when it is not built in.
 */
export type KubeKind = string | { apiVersion: string; kind: string };

/** One request through the client's transport. */
export interface KubeRequest {
  method: Dispatcher.HttpMethod;
  /** Path (and query) below the server URL, starting with '/'. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: string;
  contentType?: string;
  accept?: string;
  /** How the call is named in errors. */
  call: KubeCallInfo;
  signal?: AbortSignal;
  /** Keep the body open (watch, follow): the deadline then covers only the answer's headers. */
  stream?: boolean;
  /** Body idle limit for streams (ms, 0 = none). */
  streamIdleMs?: number;
  /** Answers with these statuses are returned, not thrown. */
  accept4xx?: (status: number, body: KubeStatus | undefined) => boolean;
  /** Extra headers (proxied requests). */
  headers?: Record<string, string>;
}

/** What the transport returns. */
export interface KubeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** What a watch needs from the client: its transport and its names for errors. */
export interface KubeTransport {
  readonly server: string;
  readonly context: string;
  /** Sends a request and returns its open body; error answers throw mapped errors. */
  open(req: KubeRequest): Promise<KubeResponse>;
  /** Maps an error thrown while reading a body (an abort of `signal` passes through). */
  streamFailure(err: unknown, signal: AbortSignal | undefined): Error;
  list<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, opts?: { labelSelector?: string; fieldSelector?: string; signal?: AbortSignal }): Promise<{ items: T[]; resourceVersion: string }>;
}
