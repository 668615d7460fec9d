/**
 * Gangway's lean Kubernetes API client (undici + yaml, no @kubernetes/client-node): load a
 * connection with `loadKubeConfig`, talk through `KubeClient`. See
 * docs/targets/kubernetes-client.md for what is supported and why it exists.
 */
export { KubeClient } from './client.js';
export type { KubeClientOptions, KubeKind, KubeObject, KubeTransport, KubeLogOptions, KubePatchType, KubeProxyResponse } from './client.js';
export { loadKubeConfig, SERVICE_ACCOUNT_DIR } from './kubeconfig.js';
export type { KubeConnectionConfig, KubeAuth, KubeTls, KubeExecConfig, LoadKubeConfigOptions } from './kubeconfig.js';
export { RESOURCES, builtInResource, resourceOf, resourcePath, UnknownKindError } from './resources.js';
export type { KubeResource } from './resources.js';
export { KubeRestMapper, mappingsOf, parseApiVersion } from './rest-mapper.js';
export type { ApiResourceList, DiscoveryFetch } from './rest-mapper.js';
export { KubeApiError, KubeUnreachableError, KubeConfigError, KubeAuthPluginError, KubeNoKindMatchError } from './errors.js';
export type { KubeCallInfo, KubeStatus, NoKindMatchReason } from './errors.js';
export type { WatchOptions, WatchEvent, WatchResult, WatchFromOptions, InformerEvent } from './watch.js';
