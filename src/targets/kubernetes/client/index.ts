/**
 * Gangway's lean Kubernetes API client (undici + yaml, no @kubernetes/client-node): load a
 * connection with `loadKubeConfig`, talk through `KubeClient`. See
 * docs/targets/kubernetes-client.md for what is supported and why it exists.
 */
export { KubeClient } from './client.js';
export type { KubeClientOptions, KubeObject, KubeTransport, KubeLogOptions, KubePatchType, KubeProxyResponse } from './client.js';
export { loadKubeConfig, SERVICE_ACCOUNT_DIR } from './kubeconfig.js';
export type { KubeConnectionConfig, KubeAuth, KubeTls, KubeExecConfig, LoadKubeConfigOptions } from './kubeconfig.js';
export { RESOURCES, resourceOf, resourcePath, UnknownKindError } from './resources.js';
export type { KubeResource } from './resources.js';
export { KubeApiError, KubeUnreachableError, KubeConfigError, KubeAuthPluginError } from './errors.js';
export type { KubeCallInfo, KubeStatus } from './errors.js';
export type { WatchOptions, WatchEvent, WatchResult, WatchFromOptions, InformerEvent } from './watch.js';
