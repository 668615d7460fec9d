/**
 * `--wait` of the FAKE `helm`, after Helm 3's legacy waiter (pkg/kube/wait.go) and ReadyChecker
 * (pkg/kube/ready.go): every applied resource is checked in order, the first one not ready ends
 * the round, rounds repeat until all are ready or the timeout passes, which fails with Go's
 * `context deadline exceeded`. Ready means, per kind:
 *
 * - Deployment: paused counts as ready; otherwise its new ReplicaSet (owned by it, with its pod
 *   template once `pod-template-hash` is ignored) has observedGeneration = generation, the
 *   Deployment too, and the ReplicaSet's readyReplicas ≥ replicas − maxUnavailable;
 * - Pod: condition Ready=True; PersistentVolumeClaim: phase Bound;
 * - Service: ExternalName always; otherwise a clusterIP, and a LoadBalancer without externalIPs
 *   needs a status.loadBalancer.ingress;
 * - ReplicaSet: observedGeneration = generation and all its pods Ready;
 * - anything else (Jobs too, as without `--wait-for-jobs`): ready.
 *
 * As upstream, a 429 / 5xx / transport error is retried (up to 30 times per resource) and any
 * other API error ends the wait with it. Helm polls every 2 s; the fake polls every
 * `FAKE_HELM_POLL_MS` (default 200 ms) so tests do not idle.
 */
import { HelmError } from './errors.mjs';
import { ApiError, KubeClient } from './kube.mjs';

const POLL_MS = Number(process.env.FAKE_HELM_POLL_MS) > 0 ? Number(process.env.FAKE_HELM_POLL_MS) : 200;
const HASH_LABEL = 'pod-template-hash';

const num = (v) => Number(v ?? 0) || 0;

/** upstream `GetScaledValueFromIntOrPercent`. */
function scaled(v, total, roundUp) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[0-9]+%$/.test(v)) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  return undefined;
}

/** upstream deploymentutil `MaxUnavailable`. */
export function maxUnavailable(d) {
  const replicas = num(d.spec?.replicas ?? 1);
  const st = d.spec?.strategy;
  if (st?.type !== 'RollingUpdate' || replicas === 0) return 0;
  const ru = st.rollingUpdate ?? {};
  const surge = scaled(ru.maxSurge ?? '25%', replicas, true);
  let unavailable = scaled(ru.maxUnavailable ?? '25%', replicas, false);
  if (surge === undefined || unavailable === undefined) return 0;
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return Math.min(unavailable, replicas);
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function withoutHash(template) {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) delete t.metadata.labels[HASH_LABEL];
  return t;
}

const selectorOf = (matchLabels) => Object.entries(matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');

async function listIn(kube, apiVersion, kind, namespace, labelSelector) {
  const m = await kube.mapping(apiVersion, kind);
  const out = await kube.request('GET', KubeClient.path(m, namespace, ''), { query: labelSelector ? { labelSelector } : undefined });
  return out?.items ?? [];
}

const podReady = (p) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** upstream deploymentutil `GetNewReplicaSet`: the oldest owned ReplicaSet with the Deployment's template. */
async function newReplicaSet(kube, d) {
  const ns = d.metadata.namespace;
  const owned = (await listIn(kube, 'apps/v1', 'ReplicaSet', ns, selectorOf(d.spec?.selector?.matchLabels)))
    .filter((rs) => (rs.metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.uid === d.metadata.uid))
    .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) || String(a.metadata.name).localeCompare(String(b.metadata.name)));
  const want = canonical(withoutHash(d.spec?.template));
  return owned.find((rs) => canonical(withoutHash(rs.spec?.template)) === want);
}

/** Helm's `ReadyChecker.IsReady` for one applied resource `{ mapping, namespace, name, kind }`. */
async function isReady(kube, r) {
  const obj = await kube.request('GET', KubeClient.path(r.mapping, r.namespace, r.name));
  switch (r.kind) {
    case 'Pod': return podReady(obj);
    case 'PersistentVolumeClaim': return obj.status?.phase === 'Bound';
    case 'Service': {
      if (obj.spec?.type === 'ExternalName') return true;
      if (!obj.spec?.clusterIP) return false;
      if (obj.spec?.type === 'LoadBalancer' && !(obj.spec?.externalIPs?.length > 0)) return obj.status?.loadBalancer?.ingress != null;
      return true;
    }
    case 'Deployment': {
      if (obj.spec?.paused === true) return true;
      const rs = await newReplicaSet(kube, obj);
      if (!rs) return false;
      if (num(rs.status?.observedGeneration) !== num(rs.metadata?.generation)) return false;
      if (num(obj.status?.observedGeneration) !== num(obj.metadata?.generation)) return false;
      return num(rs.status?.readyReplicas) >= num(obj.spec?.replicas ?? 1) - maxUnavailable(obj);
    }
    case 'ReplicaSet': {
      if (num(obj.status?.observedGeneration) !== num(obj.metadata?.generation)) return false;
      const pods = await listIn(kube, 'v1', 'Pod', r.namespace, selectorOf(obj.spec?.selector?.matchLabels));
      return pods.every(podReady);
    }
    default: return true;
  }
}

const retryable = (err) => !(err instanceof ApiError) || err.code === 429 || (err.code >= 500 && err.code !== 501);

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/**
 * Waits until every resource is ready; rejects with "context deadline exceeded" after
 * `timeoutMs`, or "context canceled" when `signal` aborts.
 */
export async function waitForResources(kube, resources, timeoutMs, signal) {
  const deadline = Date.now() + timeoutMs;
  const errors = new Map();
  for (;;) {
    if (signal?.aborted) throw new HelmError('context canceled');
    let ready = true;
    for (const r of resources) {
      let ok;
      try {
        ok = await isReady(kube, r);
        errors.set(r, 0);
      } catch (err) {
        if (!retryable(err)) throw err;
        const n = (errors.get(r) ?? 0) + 1;
        errors.set(r, n);
        if (n > 30) throw err;
        ok = false;
      }
      if (!ok) { ready = false; break; }
    }
    if (ready) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new HelmError('context deadline exceeded');
    await sleep(Math.min(POLL_MS, left), signal);
    if (Date.now() >= deadline && !signal?.aborted) throw new HelmError('context deadline exceeded');
  }
}
