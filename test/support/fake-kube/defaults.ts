/**
 * Defaulting as the real API server does it on create and update (upstream
 * `pkg/apis/<group>/v1/defaults.go` and the registry strategies' PrepareForCreate), for the kinds
 * the FAKE serves: Deployment strategy 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds
 * 600; pod spec restartPolicy, grace period, imagePullPolicy by tag, probe timings, port
 * protocols; Service clusterIP allocation and targetPort; Job completions/parallelism/backoffLimit
 * and its controller-uid selector; Secret stringData folded into data; Namespace phase and name
 * label. Defaults matter because clients read them back (`kubectl get -o json`).
 */
import type { Obj } from './util.js';
import { isObj } from './util.js';

function setDefault(obj: Obj, key: string, value: unknown): void {
  if (obj[key] === undefined || obj[key] === null) obj[key] = value;
}

function defaultProbe(p: unknown): void {
  if (!isObj(p)) return;
  if (isObj(p.httpGet)) setDefault(p.httpGet, 'scheme', 'HTTP');
  setDefault(p, 'timeoutSeconds', 1);
  setDefault(p, 'periodSeconds', 10);
  setDefault(p, 'successThreshold', 1);
  setDefault(p, 'failureThreshold', 3);
}

function defaultContainer(c: unknown): void {
  if (!isObj(c)) return;
  const image = typeof c.image === 'string' ? c.image : '';
  const lastPart = image.split('/').pop() ?? '';
  const tag = image.includes('@') ? 'digest' : lastPart.includes(':') ? lastPart.split(':').pop() : 'latest';
  setDefault(c, 'imagePullPolicy', tag === 'latest' ? 'Always' : 'IfNotPresent');
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'resources', {});
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObj(p)) setDefault(p, 'protocol', 'TCP');
  if (Array.isArray(c.env)) {
    for (const e of c.env) {
      if (isObj(e) && isObj(e.valueFrom) && isObj(e.valueFrom.fieldRef)) setDefault(e.valueFrom.fieldRef, 'apiVersion', 'v1');
    }
  }
  defaultProbe(c.readinessProbe);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.startupProbe);
}

/** Pod spec defaults (`SetDefaults_PodSpec` and friends). */
export function defaultPodSpec(spec: unknown): void {
  if (!isObj(spec)) return;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  for (const list of ['containers', 'initContainers']) {
    if (Array.isArray(spec[list])) for (const c of spec[list] as unknown[]) defaultContainer(c);
  }
}

function defaultTemplate(spec: Obj): void {
  if (!isObj(spec.template)) return;
  setDefault(spec.template, 'metadata', {});
  defaultPodSpec(spec.template.spec);
}

let nextClusterIp = 1;

/**
 * Applies the defaults of a kind to an object, in place. `creating` adds what only creation
 * sets (a Service's clusterIP, a Job's controller-uid selector, a new Pod's Pending status).
 */
export function applyDefaults(kind: string, obj: Obj, creating: boolean): void {
  const meta = (obj.metadata ?? {}) as Obj;
  const spec = isObj(obj.spec) ? obj.spec : undefined;
  switch (kind) {
    case 'Deployment': {
      if (!spec) return;
      setDefault(spec, 'replicas', 1);
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'progressDeadlineSeconds', 600);
      setDefault(spec, 'strategy', {});
      const strategy = spec.strategy as Obj;
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        setDefault(strategy, 'rollingUpdate', {});
        const ru = strategy.rollingUpdate as Obj;
        setDefault(ru, 'maxUnavailable', '25%');
        setDefault(ru, 'maxSurge', '25%');
      }
      defaultTemplate(spec);
      return;
    }
    case 'ReplicaSet':
      if (!spec) return;
      setDefault(spec, 'replicas', 1);
      defaultTemplate(spec);
      return;
    case 'Job': {
      if (!spec) return;
      setDefault(spec, 'parallelism', 1);
      setDefault(spec, 'completions', 1);
      setDefault(spec, 'backoffLimit', 6);
      setDefault(spec, 'completionMode', 'NonIndexed');
      setDefault(spec, 'suspend', false);
      setDefault(spec, 'podReplacementPolicy', 'TerminatingOrFailed');
      if (creating && !spec.manualSelector && typeof meta.uid === 'string') {
        const uid = meta.uid;
        const jobName = String(meta.name);
        spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        if (isObj(spec.template)) {
          setDefault(spec.template, 'metadata', {});
          const tmeta = spec.template.metadata as Obj;
          tmeta.labels = { ...(isObj(tmeta.labels) ? tmeta.labels : {}), 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': jobName, 'controller-uid': uid, 'job-name': jobName };
        }
      }
      defaultTemplate(spec);
      return;
    }
    case 'Pod':
      defaultPodSpec(spec);
      if (spec) {
        setDefault(spec, 'serviceAccountName', 'default');
        setDefault(spec, 'serviceAccount', spec.serviceAccountName);
        setDefault(spec, 'enableServiceLinks', true);
        setDefault(spec, 'priority', 0);
        setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
      }
      if (creating) obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
      return;
    case 'Service': {
      if (!spec) return;
      setDefault(spec, 'type', 'ClusterIP');
      setDefault(spec, 'sessionAffinity', 'None');
      setDefault(spec, 'internalTrafficPolicy', 'Cluster');
      if (spec.clusterIP !== 'None' && spec.type !== 'ExternalName') {
        if (creating && (spec.clusterIP === undefined || spec.clusterIP === '')) {
          const n = nextClusterIp++;
          spec.clusterIP = `10.96.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;
        }
        setDefault(spec, 'clusterIPs', [spec.clusterIP]);
        setDefault(spec, 'ipFamilies', ['IPv4']);
        setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
      }
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          if (!isObj(p)) continue;
          setDefault(p, 'protocol', 'TCP');
          setDefault(p, 'targetPort', p.port);
        }
      }
      if (creating) obj.status = { loadBalancer: {} };
      return;
    }
    case 'Secret':
      setDefault(obj, 'type', 'Opaque');
      if (isObj(obj.stringData)) {
        const data = isObj(obj.data) ? obj.data : {};
        for (const [k, v] of Object.entries(obj.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
        obj.data = data;
        delete obj.stringData;
      }
      return;
    case 'Namespace':
      meta.labels = { ...(isObj(meta.labels) ? meta.labels : {}), 'kubernetes.io/metadata.name': String(meta.name) };
      obj.metadata = meta;
      setDefault(obj, 'spec', {});
      setDefault(obj.spec as Obj, 'finalizers', ['kubernetes']);
      if (creating) obj.status = { phase: 'Active' };
      return;
    default:
      return;
  }
}
