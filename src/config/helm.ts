/**
 * The compiled form of `target.helm` and `target.gitops`: what the Helm and GitOps targets
 * read. Defaults are applied once, in compile.ts; paths are absolute.
 */
import type { KubernetesTargetConfig } from './kubernetes.js';

/**
 * How the Kubernetes target's machinery reaches the cluster a Helm or GitOps target deploys to
 * (pods, readiness, restarts, logs, health checks through the API server).
 */
export type KubeAccess = Pick<KubernetesTargetConfig, 'kubeconfig' | 'context' | 'namespace' | 'requestTimeoutMs'>;

/** Where the release's image goes in the chart's values. */
export interface HelmImageKeys {
  /** Dotted values key that takes the tag (`image.tag`). */
  tag: string;
  /** Dotted values key that takes the repository (`image.repository`), or null: the chart's own. */
  repository: string | null;
}

/**
 * A service deployed as a Helm release. Everything the Kubernetes target reads about the
 * objects (`deployment`, `service`, `container`, `httpRoute`, `port`, `instances`,
 * `restartLimit`) means the same here, on the objects the chart renders.
 */
export interface HelmTargetConfig extends Omit<KubernetesTargetConfig, 'kind' | 'source' | 'kubectl'> {
  kind: 'helm';
  /** The Helm release name (`helm upgrade --install <release>`); blue-green and canary use `<release>-blue` and `<release>-green`. Default: the service's name. */
  release: string;
  /** A chart folder (absolute path) or a chart reference as `helm` takes it (`repo/chart`, `oci://…`). */
  chart: string;
  /** The chart version for a chart reference (`--version`); null: the newest. */
  chartVersion: string | null;
  /** Values files (`-f`), absolute paths, in order. */
  values: string[];
  /** The values keys that carry the release's image. */
  imageKeys: HelmImageKeys;
  /** Extra `--set-string` pairs; values may hold placeholders (`${release.version}`, `${environment}`, `${service}`). */
  setString: Record<string, string>;
  /** `--timeout` of `helm upgrade --wait` and `helm rollback --wait`. Default 5m. */
  timeoutMs: number;
  /** The `helm` binary (argv, never a shell). Default `helm` on PATH. */
  helm: string;
}

/** The Argo CD API a GitOps target asks to refresh and sync. */
export interface ArgoCDConfig {
  /** Base URL of the Argo CD API server (`https://argocd.example.com`). */
  server: string;
  /** The environment variable holding the API token (a bearer token); never logged. */
  tokenFromEnv: string;
  /** Skip TLS verification of the Argo CD server (self-signed test setups only). Default false. */
  insecure: boolean;
}

/**
 * Blue-green on a GitOps target by keys the chart exposes: two slots (`blue`, `green`), each a
 * Deployment running the tag of its key, and a key naming the slot the public Service selects.
 * Each step is a commit and a sync: the new release's tag into the slot that does not serve,
 * then the switch of `activeKey`.
 */
export interface GitOpsBlueGreenConfig {
  /** Dotted key naming the slot that serves: `blue` or `green` (`active`). */
  activeKey: string;
  /** Dotted keys of each slot's tag (`blue.tag`, `green.tag`). */
  tagKeys: { blue: string; green: string };
  /** Dotted key Gangway keeps naming the slot that does not serve, for charts that cannot derive it from `activeKey`; null: none. */
  previewKey: string | null;
  /** The Deployment of each slot. Default `<deployment>-blue`, `<deployment>-green`. */
  deployments: { blue: string; green: string };
  /** The Service selecting the slot that does not serve (smoke checks reach the new release through it). Default `<service>-preview`. */
  previewService: string;
}

/**
 * Canary on a GitOps target by keys the chart exposes: a second Deployment runs the canary's
 * tag with its own replica count beside the stable one (which runs `key`); with `weightKey` the
 * chart also splits requests by that weight (an HTTPRoute, a mesh), else by replica counts.
 */
export interface GitOpsCanaryConfig {
  /** Dotted key of the canary's tag (`canary.tag`). */
  tagKey: string;
  /** Dotted key of the canary Deployment's replicas (`canary.replicas`). */
  replicasKey: string;
  /** Dotted key of the canary's share of requests, 0–100 (`canary.weight`); null: requests split by replica counts. */
  weightKey: string | null;
  /** Dotted key Gangway keeps at 100 minus the canary's weight, for charts that cannot compute it; null: none. Only with `weightKey`. */
  stableWeightKey: string | null;
  /** The canary's Deployment. Default `<deployment>-canary`. */
  deployment: string;
}

/** A service deployed by a commit to a config repository that Argo CD syncs. */
export interface GitOpsTargetConfig {
  kind: 'gitops';
  /** Replicas the manifests in Git run (what `status` expects); Git decides, this only checks. */
  instances: number;
  /** The config repository: a URL, or an absolute path of a repository (or of a working copy, with `remote`). */
  repo: string;
  /** With `repo` a local working copy: the name of its remote to push to (its URL is read from it). Null: `repo` itself. */
  remote: string | null;
  /** The branch Argo CD watches. Default main. */
  branch: string;
  /** The values file to edit, relative to the repository root; `{environment}` and `{service}` are filled in. */
  file: string;
  /** Dotted key in that file that takes the release's tag. Default image.tag. */
  key: string;
  /** The Argo CD Application; `{environment}` and `{service}` are filled in. Default `{service}-{environment}`. */
  application: string;
  argocd: ArgoCDConfig;
  /** How long a sync may take to reach Synced, Succeeded and Healthy at Gangway's commit. Default 5m, as in the runbook. */
  syncTimeoutMs: number;
  /** How long Healthy must hold after the sync before the rollout is done. Default 10s. */
  settleMs: number;
  /** Whether Gangway's syncs prune objects removed from Git. Default false (as `argocd app sync` without `--prune`). */
  prune: boolean;
  /** The cluster Argo CD deploys to, where pods, restarts and logs are read. */
  cluster: KubeAccess;
  /** The Deployment the manifests in Git run the service as. Default: the service's name. */
  deployment: string;
  /** The Service in front of the Deployment, which smoke and health checks reach through the API server. Default: the service's name. */
  service: string;
  /** The container whose image is the release's; null: the first. */
  container: string | null;
  /** The pods' port health and smoke checks reach; null: the container's first declared port. */
  port: number | null;
  /** Container restarts a new release's pod may have before the rollout fails. Default 0. */
  restartLimit: number;
  /** Blue-green by chart keys (with `strategy.blueGreen`); null: not available. */
  blueGreen: GitOpsBlueGreenConfig | null;
  /** Canary by chart keys (with `strategy.canary`); null: not available. */
  canary: GitOpsCanaryConfig | null;
}
