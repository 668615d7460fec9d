/**
 * When is a Deployment rolled out, and when are its pods beyond saving? The first question is
 * answered by the same rules as `kubectl rollout status` (kubernetes/kubectl
 * `pkg/polymorphichelpers/rollout_status.go`), so Gangway and the runbooks' `kubectl rollout
 * status` agree on every Deployment, in kubectl's words (without its trailing newline). The
 * second is answered after Argo CD's pod health (argoproj/gitops-engine
 * `pkg/health/health_pod.go`): a container waiting with a reason that ends in `BackOff` or
 * starts with `Err` will not recover by waiting, so a rollout fails at once instead of at its
 * progress deadline. Unlike Argo CD, a reason ending in `Error` (CreateContainerConfigError)
 * is waited out, since it clears when the missing Secret or ConfigMap appears, and init
 * containers count too. Restarts over a threshold fail it as well (the runbooks: "no crash
 * loops and no restarts").
 */
import type { KubeDeployment, KubePod } from './objects.js';

/** The verdict on a rollout: still `progressing`, `done`, or `failed` with the reason a person reads. */
export interface RolloutVerdict {
  state: 'progressing' | 'done' | 'failed';
  reason: string;
}

/**
 * `kubectl rollout status` for one Deployment: judged only once the controller has observed
 * the latest spec; a Progressing condition with reason `ProgressDeadlineExceeded` fails it.
 *
 * @example
 * deploymentRolloutStatus(dep); // { state: 'progressing', reason: 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...' }
 * deploymentRolloutStatus(stuck); // { state: 'failed', reason: 'deployment "web" exceeded its progress deadline' }
 */
export function deploymentRolloutStatus(dep: KubeDeployment): RolloutVerdict {
  const name = dep.metadata.name;
  const status = dep.status ?? {};
  if ((dep.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return { state: 'progressing', reason: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { state: 'failed', reason: `deployment "${name}" exceeded its progress deadline` };
  }
  const replicas = dep.spec?.replicas;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  // As kubectl: an unset spec.replicas (never the case once the API server defaulted it) skips this check.
  if (replicas !== undefined && updated < replicas) {
    return { state: 'progressing', reason: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have been updated...` };
  }
  if (total > updated) {
    return { state: 'progressing', reason: `Waiting for deployment "${name}" rollout to finish: ${total - updated} old replicas are pending termination...` };
  }
  if (available < updated) {
    return { state: 'progressing', reason: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  }
  return { state: 'done', reason: `deployment "${name}" successfully rolled out` };
}

/**
 * Why a pod will not become healthy by waiting, or null: a container (init containers
 * included) waiting with a reason ending in `BackOff` or starting with `Err`
 * (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError is not one:
 * it may resolve when a Secret appears), a pod that `Failed`, or more restarts than
 * `restartLimit`.
 *
 * @example
 * podProblem(pod, 0); // 'pod web-7d4b9-x2x1z: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 3 restarts'
 */
export function podProblem(pod: KubePod, restartLimit: number, key = 'target.kubernetes.restartLimit'): string | null {
  const name = `pod ${pod.metadata.name}`;
  if (pod.status?.phase === 'Failed') return `${name} failed${pod.status.reason ? `: ${pod.status.reason}` : ''}${pod.status.message ? ` (${pod.status.message})` : ''}`;
  const containers = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const c of containers) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && (waiting.reason.endsWith('BackOff') || waiting.reason.startsWith('Err'))) {
      const restarts = c.restartCount > 0 ? ` after ${c.restartCount} restart${c.restartCount === 1 ? '' : 's'}` : '';
      return `${name}: container ${c.name} is in ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}${restarts}`;
    }
  }
  for (const c of containers) {
    if (c.restartCount > restartLimit) {
      const last = c.lastState?.terminated;
      const why = last ? `; last exit: ${last.reason ?? 'terminated'}${last.exitCode !== undefined ? ` with code ${last.exitCode}` : ''}` : '';
      return `${name}: container ${c.name} restarted ${c.restartCount} time${c.restartCount === 1 ? '' : 's'}, more than the ${restartLimit} allowed (${key})${why}`;
    }
  }
  return null;
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(pod: KubePod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Total container restarts of a pod. */
export function podRestarts(pod: KubePod): number {
  return (pod.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
}
