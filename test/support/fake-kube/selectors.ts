/**
 * Label and field selectors as the FAKE Kubernetes API server parses them: the string forms of
 * `?labelSelector=` (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`) and
 * `?fieldSelector=` (`f=v`, `f==v`, `f!=v` over the fields upstream indexes for each kind), and
 * the `metav1.LabelSelector` object form (matchLabels + matchExpressions) that Deployments,
 * ReplicaSets and Jobs carry. Parse errors are 400 BadRequest with upstream's wording.
 */
import { badRequest } from './status.js';

/** One requirement of a label selector. */
export interface LabelRequirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!';
  values: string[];
}

/** A parsed label selector: all requirements must hold (an empty one matches everything). */
export type LabelSelector = LabelRequirement[];

/** Parses a `labelSelector` query string. Throws a 400 ApiError on bad syntax. */
export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text || text.trim() === '') return [];
  const out: LabelSelector = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; continue; }
    cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') throw badRequest(`unable to parse requirement: found '', expected: identifier`);
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^\s=!(),]+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      out.push({ key: checkKey(m[1]), op: m[2] as 'in' | 'notin', values: m[3].split(',').map((v) => v.trim()).filter((v) => v !== '') });
    } else if ((m = part.match(/^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/))) {
      out.push({ key: checkKey(m[1]), op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] });
    } else if ((m = part.match(/^!\s*([^\s=!(),]+)$/))) {
      out.push({ key: checkKey(m[1]), op: '!', values: [] });
    } else if ((m = part.match(/^([^\s=!(),]+)$/))) {
      out.push({ key: checkKey(m[1]), op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: ${JSON.stringify(part)}`);
    }
  }
  return out;
}

function checkKey(key: string): string {
  if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key)) {
    throw badRequest(`unable to parse requirement: <nil>: Invalid value: ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
  return key;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'in': return has && r.values.includes(l[r.key]);
      case 'notin': return !has || !r.values.includes(l[r.key]);
      case 'exists': return has;
      case '!': return !has;
    }
  });
}

/** A `metav1.LabelSelector` object. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Converts a LabelSelector object into requirements (operators In, NotIn, Exists, DoesNotExist). */
export function fromSelectorObject(obj: LabelSelectorObject | undefined): LabelSelector {
  if (!obj) return [];
  const out: LabelSelector = [];
  for (const [key, value] of Object.entries(obj.matchLabels ?? {})) out.push({ key, op: 'in', values: [value] });
  for (const e of obj.matchExpressions ?? []) {
    const op = e.operator === 'In' ? 'in' : e.operator === 'NotIn' ? 'notin' : e.operator === 'Exists' ? 'exists' : e.operator === 'DoesNotExist' ? '!' : undefined;
    if (!op) throw badRequest(`"${e.operator}" is not a valid label selector operator`);
    out.push({ key: e.key, op, values: e.values ?? [] });
  }
  return out;
}

/** Whether a LabelSelector object selects nothing-in-particular (`{}` selects everything, as upstream). */
export function selectorObjectMatches(obj: LabelSelectorObject | undefined, labels: Record<string, string> | undefined): boolean {
  return matchesLabels(fromSelectorObject(obj), labels);
}

/** The string form of a LabelSelector object (`app=web,tier in (a,b)`), as `kubectl` prints it. */
export function selectorToString(obj: LabelSelectorObject | undefined): string {
  return fromSelectorObject(obj).map((r) => {
    switch (r.op) {
      case 'in': return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
      case 'notin': return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
      case 'exists': return r.key;
      case '!': return `!${r.key}`;
    }
  }).join(',');
}

/** One requirement of a field selector. */
export interface FieldRequirement { field: string; op: '=' | '!='; value: string }

/** Fields each kind accepts in a field selector (metadata.name and metadata.namespace for all). */
const FIELD_LABELS: Record<string, string[]> = {
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  Secret: ['type'],
  Namespace: ['status.phase'],
  ReplicaSet: ['status.replicas'],
  Job: ['status.successful'],
};

/** Parses a `fieldSelector` for a kind; unknown fields are a 400 as upstream answers them. */
export function parseFieldSelector(text: string | null | undefined, kind: string): FieldRequirement[] {
  if (!text || text.trim() === '') return [];
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(FIELD_LABELS[kind] ?? [])]);
  return text.split(',').map((raw) => {
    const m = raw.trim().match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${raw}'`);
    const field = m[1].trim();
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3].trim() };
  });
}

function fieldValue(obj: Record<string, unknown>, field: string): string {
  if (field === 'status.successful') {
    const v = (obj.status as Record<string, unknown> | undefined)?.succeeded;
    return String(v ?? 0);
  }
  if (field === 'source') {
    const src = obj.source as Record<string, unknown> | undefined;
    return String(src?.component ?? obj.reportingComponent ?? '');
  }
  let cur: unknown = obj;
  for (const part of field.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  if (cur === undefined || cur === null) return field === 'spec.hostNetwork' ? 'false' : '';
  return String(cur);
}

/** Whether an object satisfies every field requirement. */
export function matchesFields(sel: FieldRequirement[], obj: Record<string, unknown>): boolean {
  return sel.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === '='));
}
