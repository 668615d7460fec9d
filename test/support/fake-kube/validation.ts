/**
 * Validation the FAKE Kubernetes API server does before storing an object, for what clients
 * get wrong in practice: names, a Deployment whose selector does not match its template, no
 * containers or no image, negative replicas, a Job's restartPolicy, immutable selectors and Job
 * templates, Service ports. Failures are 422 Invalid with upstream's field paths and wording
 * (k8s.io/apimachinery `util/validation/field`). Everything else is accepted, as if valid:
 * this is not the full OpenAPI schema validation (unknown fields are kept, not rejected).
 */
import type { FieldCause } from './status.js';
import { selectorObjectMatches } from './selectors.js';
import type { LabelSelectorObject } from './selectors.js';
import type { Obj } from './util.js';
import { deepEqual, isDns1123Label, isDns1123Subdomain, isObj } from './util.js';

const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

function goMap(m: unknown): string {
  if (!isObj(m)) return 'map[string]string(nil)';
  return `map[string]string{${Object.entries(m).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(', ')}}`;
}

const required = (field: string): FieldCause => ({ reason: 'FieldValueRequired', message: 'Required value', field });
const invalidValue = (field: string, value: string, detail: string): FieldCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${detail}`, field });

function validateContainers(spec: unknown, path: string, out: FieldCause[]): void {
  if (!isObj(spec)) { out.push(required(path)); return; }
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) { out.push(required(`${path}.containers`)); return; }
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const p = `${path}.containers[${i}]`;
    if (!isObj(c)) { out.push(required(p)); return; }
    if (typeof c.name !== 'string' || c.name === '') out.push(required(`${p}.name`));
    else if (!isDns1123Label(c.name)) out.push(invalidValue(`${p}.name`, JSON.stringify(c.name), LABEL_MSG));
    else if (seen.has(c.name)) out.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(c.name)}`, field: `${p}.name` });
    if (typeof c.name === 'string') seen.add(c.name);
    if (typeof c.image !== 'string' || c.image.trim() === '') out.push(required(`${p}.image`));
    if (Array.isArray(c.ports)) {
      c.ports.forEach((port, j) => {
        const n = isObj(port) ? port.containerPort : undefined;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
          if (n === undefined) out.push(required(`${p}.ports[${j}].containerPort`));
          else out.push(invalidValue(`${p}.ports[${j}].containerPort`, String(n), 'must be between 1 and 65535, inclusive'));
        }
      });
    }
  });
}

function validateMeta(kind: string, meta: Obj, out: FieldCause[]): void {
  const name = meta.name;
  if (typeof name !== 'string' || name === '') { out.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }); return; }
  const labelKinds = ['Namespace', 'Service'];
  if (labelKinds.includes(kind) ? !isDns1123Label(name) : !isDns1123Subdomain(name)) {
    out.push(invalidValue('metadata.name', JSON.stringify(name), labelKinds.includes(kind) ? LABEL_MSG : SUBDOMAIN_MSG));
  }
  for (const field of ['labels', 'annotations']) {
    const m = meta[field];
    if (m !== undefined && (!isObj(m) || Object.values(m).some((v) => typeof v !== 'string'))) {
      out.push(invalidValue(`metadata.${field}`, JSON.stringify(m), 'values must be strings'));
    }
  }
}

function validateReplicas(spec: Obj, out: FieldCause[]): void {
  const r = spec.replicas;
  if (r !== undefined && (typeof r !== 'number' || !Number.isInteger(r) || r < 0)) {
    out.push(invalidValue('spec.replicas', String(r), 'must be greater than or equal to 0'));
  }
}

function validateSelectorTemplate(spec: Obj, out: FieldCause[]): void {
  const sel = spec.selector as LabelSelectorObject | undefined;
  if (!isObj(sel) || (Object.keys(sel.matchLabels ?? {}).length === 0 && (Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []).length === 0)) {
    out.push(required('spec.selector'));
    return;
  }
  const tmplLabels = (isObj(spec.template) && isObj(spec.template.metadata) ? spec.template.metadata.labels : undefined) as Record<string, string> | undefined;
  if (!selectorObjectMatches(sel, tmplLabels)) {
    out.push(invalidValue('spec.template.metadata.labels', goMap(tmplLabels), '`selector` does not match template `labels`'));
  }
}

function immutable(field: string, value: unknown): FieldCause {
  return invalidValue(field, `v1.LabelSelector${JSON.stringify(value)}`.replace(/"/g, '"'), 'field is immutable');
}

/**
 * The 422 causes for storing `obj` (with `old` when updating); empty when valid. Defaults are
 * already applied.
 */
export function validate(kind: string, obj: Obj, old: Obj | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  validateMeta(kind, meta, out);
  const spec = isObj(obj.spec) ? obj.spec : undefined;
  const oldSpec = old && isObj(old.spec) ? old.spec : undefined;
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet': {
      if (!spec) { out.push(required('spec')); break; }
      validateReplicas(spec, out);
      validateSelectorTemplate(spec, out);
      const tspec = isObj(spec.template) ? spec.template.spec : undefined;
      validateContainers(tspec, 'spec.template.spec', out);
      if (isObj(tspec) && tspec.restartPolicy !== 'Always') {
        out.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(tspec.restartPolicy)}: supported values: "Always"`, field: 'spec.template.spec.restartPolicy' });
      }
      if (kind === 'Deployment' && isObj(spec.strategy)) {
        const st = spec.strategy;
        if (st.type === 'Recreate' && st.rollingUpdate !== undefined) {
          out.push({ reason: 'FieldValueForbidden', message: "Forbidden: may not be specified when strategy `type` is 'Recreate'", field: 'spec.strategy.rollingUpdate' });
        } else if (st.type !== 'Recreate' && st.type !== 'RollingUpdate') {
          out.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(st.type)}: supported values: "Recreate", "RollingUpdate"`, field: 'spec.strategy.type' });
        } else if (isObj(st.rollingUpdate)) {
          const ru = st.rollingUpdate;
          for (const f of ['maxSurge', 'maxUnavailable']) {
            const v = ru[f];
            const ok = (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^[0-9]+%$/.test(v));
            if (!ok) out.push(invalidValue(`spec.strategy.rollingUpdate.${f}`, JSON.stringify(v), "a valid IntOrString: an integer or a percentage like '25%'"));
          }
          const zero = (v: unknown): boolean => v === 0 || v === '0%';
          if (zero(ru.maxSurge) && zero(ru.maxUnavailable)) {
            out.push(invalidValue('spec.strategy.rollingUpdate.maxUnavailable', String(ru.maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
          }
        }
      }
      if (oldSpec && !deepEqual(oldSpec.selector, spec.selector)) out.push(immutable('spec.selector', spec.selector));
      break;
    }
    case 'Job': {
      if (!spec) { out.push(required('spec')); break; }
      const tspec = isObj(spec.template) ? spec.template.spec : undefined;
      validateContainers(tspec, 'spec.template.spec', out);
      if (isObj(tspec) && tspec.restartPolicy !== 'Never' && tspec.restartPolicy !== 'OnFailure') {
        out.push({ reason: 'FieldValueRequired', message: 'Required value: valid values: "OnFailure", "Never"', field: 'spec.template.spec.restartPolicy' });
      }
      for (const f of ['backoffLimit', 'completions', 'parallelism', 'activeDeadlineSeconds']) {
        const v = spec[f];
        if (v !== undefined && v !== null && (typeof v !== 'number' || v < 0)) out.push(invalidValue(`spec.${f}`, String(v), 'must be greater than or equal to 0'));
      }
      if (oldSpec) {
        if (!deepEqual(oldSpec.selector, spec.selector)) out.push(immutable('spec.selector', spec.selector));
        if (!deepEqual(oldSpec.template, spec.template)) out.push({ reason: 'FieldValueInvalid', message: 'Invalid value: core.PodTemplateSpec{...}: field is immutable', field: 'spec.template' });
        if (oldSpec.completions !== spec.completions) out.push(invalidValue('spec.completions', String(spec.completions), 'field is immutable'));
      }
      break;
    }
    case 'Pod':
      validateContainers(spec, 'spec', out);
      if (oldSpec && spec && !deepEqual(
        (oldSpec.containers as Obj[] | undefined)?.map((c) => ({ ...c, image: undefined })),
        (spec.containers as Obj[] | undefined)?.map((c) => ({ ...c, image: undefined })),
      )) {
        out.push({ reason: 'FieldValueForbidden', message: 'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)', field: 'spec' });
      }
      break;
    case 'Service': {
      if (!spec) { out.push(required('spec')); break; }
      const ports = spec.ports;
      if (spec.type !== 'ExternalName' && spec.clusterIP !== 'None' && (!Array.isArray(ports) || ports.length === 0)) out.push(required('spec.ports'));
      if (Array.isArray(ports)) {
        const names = new Set<string>();
        ports.forEach((p, i) => {
          if (!isObj(p)) return;
          if (p.port === undefined) out.push(required(`spec.ports[${i}].port`));
          else if (typeof p.port !== 'number' || p.port < 1 || p.port > 65535) out.push(invalidValue(`spec.ports[${i}].port`, String(p.port), 'must be between 1 and 65535, inclusive'));
          if (ports.length > 1 && (typeof p.name !== 'string' || p.name === '')) out.push(required(`spec.ports[${i}].name`));
          if (typeof p.name === 'string') {
            if (names.has(p.name)) out.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(p.name)}`, field: `spec.ports[${i}].name` });
            names.add(p.name);
          }
        });
      }
      if (spec.selector !== undefined && (!isObj(spec.selector) || Object.values(spec.selector).some((v) => typeof v !== 'string'))) {
        out.push(invalidValue('spec.selector', JSON.stringify(spec.selector), 'values must be strings'));
      }
      if (oldSpec && oldSpec.clusterIP && spec.clusterIP !== oldSpec.clusterIP) out.push(invalidValue('spec.clusterIPs[0]', JSON.stringify(spec.clusterIP), 'may not change once set'));
      break;
    }
    case 'HTTPRoute': {
      if (spec !== undefined && !isObj(spec)) out.push(invalidValue('spec', JSON.stringify(spec), 'must be an object'));
      const rules = spec?.rules;
      if (Array.isArray(rules)) {
        rules.forEach((r, i) => {
          const refs = isObj(r) ? r.backendRefs : undefined;
          if (Array.isArray(refs)) refs.forEach((b, j) => {
            const w = isObj(b) ? b.weight : undefined;
            if (w !== undefined && (typeof w !== 'number' || w < 0 || w > 1000000)) out.push(invalidValue(`spec.rules[${i}].backendRefs[${j}].weight`, String(w), 'should be less than or equal to 1000000'));
          });
        });
      }
      break;
    }
    default:
      break;
  }
  return out;
}
