/**
 * The FAKE Job controller (after upstream `pkg/controller/job`, 1.32 behaviour): runs up to
 * `parallelism` pods until `completions` succeed; counts failed pods (and, with restartPolicy
 * OnFailure, container restarts) against `backoffLimit`, recreating a failed pod after a
 * backoff that doubles per failure; honours `activeDeadlineSeconds` and `suspend`. Conditions
 * as 1.32 writes them: SuccessCriteriaMet then Complete (reason CompletionsReached), or
 * FailureTarget then Failed (reason BackoffLimitExceeded or DeadlineExceeded) once the
 * remaining pods are gone. Status: startTime, completionTime, active, ready, succeeded, failed,
 * terminating, uncountedTerminatedPods.
 *
 * Simplified: no `batch.kubernetes.io/job-tracking` finalizer on pods (pods are counted
 * directly), no indexed completion mode, no pod failure policy, no success policy, no TTL;
 * backoff starts at the configured `jobBackoffMs` instead of 10 s.
 */
import { recordEvent } from '../events.js';
import { resolveKind } from '../resources.js';
import type { Obj } from '../util.js';
import { clone, deepEqual, isObj, nowRfc3339 } from '../util.js';
import type { ControllerContext } from './context.js';
import { conditionOf, controllerRef, controllerUid, metaOf, podActive, podReady, setCondition } from './context.js';

function phase(p: Obj): string { return String(((p.status ?? {}) as Obj).phase ?? 'Pending'); }
function restarts(p: Obj): number {
  const cs = isObj(p.status) && Array.isArray(p.status.containerStatuses) ? (p.status.containerStatuses as Obj[]) : [];
  return cs.reduce((n, c) => n + Number(c.restartCount ?? 0), 0);
}

const lastFailureSeen = new Map<string, { failures: number; at: number }>();

/** One pass over every Job. */
export function syncJobs(ctx: ControllerContext): void {
  const jobRt = resolveKind('Job');
  const podRt = resolveKind('Pod');
  for (const job of ctx.api.select(jobRt, undefined)) {
    const m = metaOf(job);
    const ns = String(m.namespace);
    const name = String(m.name);
    const uid = String(m.uid);
    const spec = (job.spec ?? {}) as Obj;
    const prev = (job.status ?? {}) as Obj;
    const finished = ['Complete', 'Failed'].some((t) => conditionOf(prev, t)?.status === 'True');
    const owned = (): Obj[] => ctx.api.select(podRt, ns).filter((p) => controllerUid(p) === uid);
    let pods = owned();
    const now = Date.now();
    const onFailure = isObj(spec.template) && isObj(spec.template.spec) && spec.template.spec.restartPolicy === 'OnFailure';
    const succeeded = pods.filter((p) => phase(p) === 'Succeeded').length;
    const failed = pods.filter((p) => phase(p) === 'Failed').length + (onFailure ? pods.reduce((n, p) => n + restarts(p), 0) : 0);
    const completions = Number(spec.completions ?? 1);
    const parallelism = Number(spec.parallelism ?? 1);
    const backoffLimit = Number(spec.backoffLimit ?? 6);
    let conditions = clone((prev.conditions ?? []) as Obj[]);
    const startTime = (prev.startTime as string | undefined) ?? (spec.suspend === true ? undefined : nowRfc3339(now));
    let completionTime = prev.completionTime as string | undefined;
    const deleteActive = (): void => {
      for (const p of pods.filter(podActive)) {
        try { ctx.api.delete(podRt, ns, String(metaOf(p).name), {}); } catch { /* gone */ }
      }
      pods = owned();
    };

    if (!finished && !m.deletionTimestamp) {
      const failureTarget = conditionOf({ conditions }, 'FailureTarget');
      const pastDeadline = typeof spec.activeDeadlineSeconds === 'number' && startTime !== undefined && now - Date.parse(startTime) >= spec.activeDeadlineSeconds * 1000;
      if (failureTarget || failed > backoffLimit || pastDeadline) {
        if (!failureTarget) {
          const [reason, message] = failed > backoffLimit ? ['BackoffLimitExceeded', 'Job has reached the specified backoff limit'] : ['DeadlineExceeded', 'Job was active longer than specified deadline'];
          conditions = setCondition(conditions, { type: 'FailureTarget', status: 'True', reason, message }, { lastProbeTime: nowRfc3339(now) });
          recordEvent(ctx.api, ctx.events, job, 'Warning', reason, message, 'job-controller');
        }
        deleteActive();
        const ft = conditionOf({ conditions }, 'FailureTarget') as Obj;
        if (pods.every((p) => !(podActive(p) || metaOf(p).deletionTimestamp))) {
          conditions = setCondition(conditions, { type: 'Failed', status: 'True', reason: String(ft.reason), message: String(ft.message) }, { lastProbeTime: nowRfc3339(now) });
        }
      } else if (succeeded >= completions) {
        conditions = setCondition(conditions, { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' }, { lastProbeTime: nowRfc3339(now) });
        deleteActive();
        conditions = setCondition(conditions, { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' }, { lastProbeTime: nowRfc3339(now) });
        completionTime = nowRfc3339(now);
        recordEvent(ctx.api, ctx.events, job, 'Normal', 'Completed', 'Job completed', 'job-controller');
      } else if (spec.suspend === true) {
        deleteActive();
        conditions = setCondition(conditions, { type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' }, { lastProbeTime: nowRfc3339(now) });
      } else {
        if (conditionOf({ conditions }, 'Suspended')?.status === 'True') {
          conditions = setCondition(conditions, { type: 'Suspended', status: 'False', reason: 'JobResumed', message: 'Job resumed' }, { lastProbeTime: nowRfc3339(now) });
        }
        const active = pods.filter(podActive).length;
        const terminating = pods.filter((p) => metaOf(p).deletionTimestamp && !['Succeeded', 'Failed'].includes(phase(p))).length;
        const want = Math.min(parallelism, completions - succeeded) - active - terminating;
        // Back off after failures before creating a replacement pod.
        const seen = lastFailureSeen.get(uid) ?? { failures: 0, at: 0 };
        if (failed > seen.failures) lastFailureSeen.set(uid, { failures: failed, at: now });
        const last = lastFailureSeen.get(uid) ?? seen;
        const delay = failed > 0 ? ctx.jobBackoffMs * 2 ** (failed - 1) : 0;
        if (want > 0 && now >= last.at + delay) {
          const template = (spec.template ?? {}) as Obj;
          const tmeta = (template.metadata ?? {}) as Obj;
          for (let i = 0; i < want; i++) {
            const pod = ctx.api.create(podRt, ns, {
              metadata: { generateName: `${name}-`, namespace: ns, labels: clone(tmeta.labels ?? {}), ...(tmeta.annotations ? { annotations: clone(tmeta.annotations) } : {}), ownerReferences: [controllerRef(job)] },
              spec: clone(template.spec ?? {}),
            }, { fieldManager: 'kube-controller-manager', internal: true });
            recordEvent(ctx.api, ctx.events, job, 'Normal', 'SuccessfulCreate', `Created pod: ${String(metaOf(pod).name)}`, 'job-controller');
          }
          pods = owned();
        }
      }
    }
    const activePods = pods.filter(podActive);
    const status: Obj = {
      ...(isObj(prev) ? {} : {}),
      ...(conditions.length ? { conditions } : {}),
      ...(startTime ? { startTime } : {}),
      ...(completionTime ? { completionTime } : {}),
      ...(activePods.length ? { active: activePods.length } : {}),
      ...(succeeded ? { succeeded } : {}),
      ...(failed ? { failed } : {}),
      ready: activePods.filter(podReady).length,
      terminating: pods.filter((p) => metaOf(p).deletionTimestamp && !['Succeeded', 'Failed'].includes(phase(p))).length,
      uncountedTerminatedPods: {},
    };
    if (deepEqual(prev, status)) continue;
    ctx.api.mutate(jobRt, ns, name, (o) => { o.status = status; }, 'kube-controller-manager', 'status');
  }
}
