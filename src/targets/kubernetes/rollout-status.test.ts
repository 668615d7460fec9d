/**
 * The rollout rules: a Deployment judged as `kubectl rollout status` judges it, in its words
 * (kubernetes/kubectl `pkg/polymorphichelpers/rollout_status.go`, DeploymentStatusViewer), and
 * the pod states that will not get better by waiting.
 */
import { describe, expect, it } from 'vitest';
import type { KubeContainerStatus, KubeDeployment, KubePod } from './objects.js';
import { deploymentRolloutStatus, isPodReady, podProblem, podRestarts } from './rollout-status.js';

/** Deployment `web` at generation 2 asking for 3 replicas, with the given status. */
function deployment(status: KubeDeployment['status'], o: { generation?: number; replicas?: number | null } = {}): KubeDeployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', generation: o.generation ?? 2 },
    spec: o.replicas === null ? {} : { replicas: o.replicas ?? 3 },
    status,
  };
}

const progressing = (reason: string) => ({ type: 'Progressing', status: reason === 'ProgressDeadlineExceeded' ? 'False' : 'True', reason, message: `ReplicaSet "web-5d4f8" ${reason}` });

describe('deploymentRolloutStatus, as kubectl rollout status', () => {
  it('waits until the controller observed the latest generation, whatever else the status says', () => {
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3, conditions: [progressing('ProgressDeadlineExceeded')] }))).toEqual({
      state: 'progressing', reason: 'Waiting for deployment spec update to be observed...',
    });
    expect(deploymentRolloutStatus(deployment(undefined))).toEqual({ state: 'progressing', reason: 'Waiting for deployment spec update to be observed...' });
  });

  it('fails on ProgressDeadlineExceeded in kubectl\'s words', () => {
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 0, conditions: [progressing('ProgressDeadlineExceeded')] }))).toEqual({
      state: 'failed', reason: 'deployment "web" exceeded its progress deadline',
    });
  });

  it('waits for the new replicas to be created, the old ones to go, and the new ones to be available, in that order', () => {
    const cond = [progressing('ReplicaSetUpdated')];
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3, conditions: cond }))).toEqual({
      state: 'progressing', reason: 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    });
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 3, replicas: 4, updatedReplicas: 3, availableReplicas: 3, conditions: cond }))).toEqual({
      state: 'progressing', reason: 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
    });
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2, conditions: cond }))).toEqual({
      state: 'progressing', reason: 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
    });
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2 }))).toEqual({
      state: 'progressing', reason: 'Waiting for deployment "web" rollout to finish: 0 out of 3 new replicas have been updated...',
    });
  });

  it('is done when every replica is updated and available and no old one is left', () => {
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, conditions: [progressing('NewReplicaSetAvailable')] }))).toEqual({
      state: 'done', reason: 'deployment "web" successfully rolled out',
    });
    // Scaled to zero is rolled out too.
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2 }, { replicas: 0 }))).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });
  });

  it('skips the updated-replicas check when spec.replicas is unset, as kubectl does', () => {
    expect(deploymentRolloutStatus(deployment({ observedGeneration: 2, replicas: 0, updatedReplicas: 0, availableReplicas: 0 }, { replicas: null }))).toEqual({
      state: 'done', reason: 'deployment "web" successfully rolled out',
    });
  });
});

/** Pod `web-5d4f8-x2x1z` with one container `web` in the given state. */
function pod(c: Partial<KubeContainerStatus>, extra: Partial<NonNullable<KubePod['status']>> = {}): KubePod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-5d4f8-x2x1z' },
    spec: { containers: [{ name: 'web' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, ...c }], ...extra },
  };
}

describe('podProblem', () => {
  it('names a container waiting in CrashLoopBackOff, with the kubelet\'s message and the restarts', () => {
    expect(podProblem(pod({ restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=web pod=web-5d4f8-x2x1z_shop(1)' } } }), 5)).toBe(
      'pod web-5d4f8-x2x1z: container web is in CrashLoopBackOff (back-off 40s restarting failed container=web pod=web-5d4f8-x2x1z_shop(1)) after 3 restarts',
    );
    expect(podProblem(pod({ restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } }), 5)).toBe('pod web-5d4f8-x2x1z: container web is in CrashLoopBackOff after 1 restart');
  });

  it('names an image that cannot be pulled: ImagePullBackOff and ErrImagePull', () => {
    expect(podProblem(pod({ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "registry/web:9"' } } }), 0)).toBe(
      'pod web-5d4f8-x2x1z: container web is in ImagePullBackOff (Back-off pulling image "registry/web:9")',
    );
    expect(podProblem(pod({ state: { waiting: { reason: 'ErrImagePull', message: 'pull access denied' } } }), 0)).toBe('pod web-5d4f8-x2x1z: container web is in ErrImagePull (pull access denied)');
  });

  it('looks at init containers too', () => {
    const p = pod({ state: { waiting: { reason: 'PodInitializing' } } }, { initContainerStatuses: [{ name: 'migrate', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } } }] });
    expect(podProblem(p, 5)).toBe('pod web-5d4f8-x2x1z: container migrate is in CrashLoopBackOff (back-off 20s) after 2 restarts');
  });

  it('waits out states that may clear: creating, a missing Secret or ConfigMap, not ready yet', () => {
    for (const reason of ['ContainerCreating', 'PodInitializing', 'CreateContainerConfigError']) {
      expect(podProblem(pod({ state: { waiting: { reason, message: 'secret "db" not found' } } }), 0)).toBeNull();
    }
    expect(podProblem(pod({ state: { running: { startedAt: '2025-01-01T00:00:00Z' } } }), 0)).toBeNull();
  });

  it('names restarts over restartLimit, with the last exit; as many as allowed is no problem', () => {
    const restarted = (n: number) => pod({ restartCount: n, state: { running: {} }, lastState: { terminated: { reason: 'Error', exitCode: 1 } } });
    expect(podProblem(restarted(1), 0)).toBe('pod web-5d4f8-x2x1z: container web restarted 1 time, more than the 0 allowed (target.kubernetes.restartLimit); last exit: Error with code 1');
    expect(podProblem(restarted(3), 2)).toBe('pod web-5d4f8-x2x1z: container web restarted 3 times, more than the 2 allowed (target.kubernetes.restartLimit); last exit: Error with code 1');
    // Targets built on this machinery name their own key.
    expect(podProblem(restarted(1), 0, 'target.gitops.restartLimit')).toBe('pod web-5d4f8-x2x1z: container web restarted 1 time, more than the 0 allowed (target.gitops.restartLimit); last exit: Error with code 1');
    expect(podProblem(restarted(2), 2)).toBeNull();
    expect(podProblem(pod({ restartCount: 1, state: { running: {} } }), 0)).toBe('pod web-5d4f8-x2x1z: container web restarted 1 time, more than the 0 allowed (target.kubernetes.restartLimit)');
  });

  it('names a pod that failed, with its reason and message', () => {
    expect(podProblem(pod({}, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }), 0)).toBe(
      'pod web-5d4f8-x2x1z failed: Evicted (The node was low on resource: memory.)',
    );
    expect(podProblem(pod({}, { phase: 'Failed' }), 0)).toBe('pod web-5d4f8-x2x1z failed');
  });
});

describe('isPodReady and podRestarts', () => {
  it('reads the Ready condition and sums the restarts of the app containers', () => {
    expect(isPodReady(pod({}, { conditions: [{ type: 'Ready', status: 'True' }] }))).toBe(true);
    expect(isPodReady(pod({}, { conditions: [{ type: 'Ready', status: 'False', reason: 'ContainersNotReady' }, { type: 'PodScheduled', status: 'True' }] }))).toBe(false);
    expect(isPodReady(pod({}, { conditions: undefined }))).toBe(false);
    const two = pod({ restartCount: 2 }, { initContainerStatuses: [{ name: 'init', ready: true, restartCount: 5 }] });
    two.status!.containerStatuses!.push({ name: 'sidecar', ready: true, restartCount: 1 });
    expect(podRestarts(two)).toBe(3);
  });
});
