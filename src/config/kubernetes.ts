/**
 * The compiled form of `target.kubernetes` and of a service's `jobs`: what the Kubernetes
 * target reads. Defaults are applied once, in compile.ts; paths are absolute.
 */

/** Where the service's objects come from: plain manifests (a file or a folder) or a kustomize overlay. */
export type KubernetesSource =
  | { kind: 'manifests'; path: string }
  | { kind: 'kustomize'; path: string };

/** A service deployed to a Kubernetes cluster. */
export interface KubernetesTargetConfig {
  kind: 'kubernetes';
  /** Replicas of a release (the Deployment's `spec.replicas`). */
  instances: number;
  /** Absolute kubeconfig path, or null: `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account. */
  kubeconfig: string | null;
  /** Context to use; null: the kubeconfig's current context. */
  context: string | null;
  /** Namespace of the service's objects; null: the context's namespace, else `default`. */
  namespace: string | null;
  source: KubernetesSource;
  /** The Deployment in the manifests that runs the service. Default: the service's name. */
  deployment: string;
  /** The container whose image is the release's; null: the Deployment's first container. */
  container: string | null;
  /** The public Service. Default: the service's name. */
  service: string;
  /** A Gateway API HTTPRoute that splits traffic by exact weights and header matches; null: weights by replica ratio. */
  httpRoute: string | null;
  /** The pods' port health and smoke checks reach; null: the container's first declared port. */
  port: number | null;
  /** Image repository for a version deployed without an image (`<image>:<version>`); null: the manifests' image with its tag replaced. */
  image: string | null;
  /** Container restarts a new release's pod may have before the rollout fails. Default 0: no restarts, as the runbooks ask. */
  restartLimit: number;
  /** The `kubectl` binary that renders kustomize overlays (argv, never a shell). Default `kubectl` on PATH. */
  kubectl: string;
  /** Limit on each API call. */
  requestTimeoutMs: number;
}

/** A Job applied and waited for before the rollout (a database migration, as the runbooks run one). */
export interface JobConfig {
  /** Absolute path of the Job manifest (one Job). */
  manifest: string;
  /** How long the Job may take to complete; past it the deployment fails. */
  timeoutMs: number;
}

/** Work that runs as part of a deployment on the target. */
export interface JobsConfig {
  /** Jobs applied in order before the new release starts; a failed one stops the deployment before traffic moves. */
  beforeRollout: JobConfig[];
}
