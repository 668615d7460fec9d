/**
 * The FAKE garbage collector and namespace controller. GC (after upstream
 * `pkg/controller/garbagecollector`): a dependent whose every owner (by uid) is gone is
 * deleted in the background (pods gracefully); dangling references beside a live owner are
 * removed; an owner being deleted in the foreground (finalizer `foregroundDeletion`) has its
 * dependents deleted first and goes once none is left. Namespace controller: a terminating
 * namespace has all its content deleted, then it goes.
 */
import { RESOURCE_TYPES, resolveKind } from '../resources.js';
import type { Obj } from '../util.js';
import type { ControllerContext } from './context.js';
import { metaOf } from './context.js';

function allObjects(ctx: ControllerContext): { rt: (typeof RESOURCE_TYPES)[number]; o: Obj }[] {
  const out: { rt: (typeof RESOURCE_TYPES)[number]; o: Obj }[] = [];
  // Read-only references: the GC only writes through the API.
  for (const rt of RESOURCE_TYPES) for (const o of ctx.api.store.scan(rt)) out.push({ rt, o });
  return out;
}

/** One garbage-collection pass. */
export function collectGarbage(ctx: ControllerContext): void {
  const objects = allObjects(ctx);
  const byUid = new Map<string, Obj>();
  for (const { o } of objects) byUid.set(String(metaOf(o).uid), o);
  for (const { rt, o } of objects) {
    const m = metaOf(o);
    const refs = Array.isArray(m.ownerReferences) ? (m.ownerReferences as Obj[]) : [];
    if (refs.length === 0) continue;
    const ns = String(m.namespace ?? '');
    const name = String(m.name);
    const present = refs.filter((r) => byUid.has(String(r.uid)));
    if (present.length === 0) {
      if (!m.deletionTimestamp) {
        try { ctx.api.delete(rt, ns, name, { propagationPolicy: 'Background' }); } catch { /* gone */ }
      }
      continue;
    }
    if (present.length < refs.length) {
      ctx.api.mutate(rt, ns, name, (x) => { metaOf(x).ownerReferences = present; }, 'generic-garbage-collector');
    }
    // Foreground deletion of an owner: delete its dependents first.
    const foregroundOwner = present.some((r) => {
      const owner = byUid.get(String(r.uid)) as Obj;
      const om = metaOf(owner);
      return om.deletionTimestamp && Array.isArray(om.finalizers) && (om.finalizers as string[]).includes('foregroundDeletion');
    });
    if (foregroundOwner && !m.deletionTimestamp) {
      try { ctx.api.delete(rt, ns, name, { propagationPolicy: rt.kind === 'Pod' ? 'Background' : 'Foreground' }); } catch { /* gone */ }
    }
  }
  // Owners waiting on their dependents.
  const remaining = allObjects(ctx);
  for (const { rt, o } of remaining) {
    const m = metaOf(o);
    const fins = Array.isArray(m.finalizers) ? (m.finalizers as string[]) : [];
    if (!m.deletionTimestamp || !fins.includes('foregroundDeletion')) continue;
    const uid = String(m.uid);
    const blocking = remaining.some(({ o: d }) => {
      const refs = metaOf(d).ownerReferences;
      return Array.isArray(refs) && (refs as Obj[]).some((r) => r.uid === uid && r.blockOwnerDeletion === true);
    });
    if (!blocking) {
      ctx.api.mutate(rt, String(m.namespace ?? ''), String(m.name), (x) => {
        metaOf(x).finalizers = fins.filter((f) => f !== 'foregroundDeletion');
        if ((metaOf(x).finalizers as string[]).length === 0) delete metaOf(x).finalizers;
      }, 'generic-garbage-collector');
    }
  }
}

/** One pass of the namespace controller. */
export function syncNamespaces(ctx: ControllerContext): void {
  const nsRt = resolveKind('Namespace');
  for (const ns of ctx.api.select(nsRt, undefined)) {
    const m = metaOf(ns);
    if (!m.deletionTimestamp) continue;
    const name = String(m.name);
    let left = 0;
    for (const rt of RESOURCE_TYPES) {
      if (!rt.namespaced) continue;
      for (const o of ctx.api.store.scan(rt, name)) {
        left++;
        if (metaOf(o).deletionTimestamp) continue;
        try { ctx.api.delete(rt, name, String(metaOf(o).name), { propagationPolicy: 'Background' }); } catch { /* gone */ }
      }
    }
    if (left === 0) ctx.api.removeNow(nsRt, '', name);
  }
}
