/**
 * The FAKE Kubernetes API server's storage: objects by resource type, namespace and name, one
 * global monotonically increasing resourceVersion (as etcd's revision is for a real cluster),
 * and a bounded history of changes that watches replay from. A watch asking to start before
 * the oldest kept change gets 410 Expired, as the real server answers when its watch cache has
 * moved on. Semantics (defaults, generation, ownership) live in api.ts; this file only keeps
 * state and tells subscribers what changed.
 */
import type { ResourceType } from './resources.js';
import type { Obj } from './util.js';
import { clone } from './util.js';

/** A change, as a watch reports it. */
export interface StoreEvent {
  /** The resourceVersion the change produced. */
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** `group/plural` of the object's type. */
  typeKey: string;
  namespace: string;
  /** The object after the change (for DELETED: its last state, with the deletion's resourceVersion). */
  object: Obj;
  /** The object before the change (MODIFIED only). */
  previous?: Obj;
}

/** The key of a resource type in the store. */
export function typeKey(rt: ResourceType): string {
  return `${rt.group}/${rt.plural}`;
}

function nsName(ns: string, name: string): string {
  return `${ns}/${name}`;
}

/** Object storage with a global resourceVersion and a bounded change history. */
export class Store {
  #rv = 1;
  readonly #objects = new Map<string, Map<string, Obj>>();
  readonly #history: StoreEvent[] = [];
  readonly #subscribers = new Set<(e: StoreEvent) => void>();
  /** Oldest resourceVersion a watch may start from (changes after it are all still kept). */
  #compactedTo = 1;

  constructor(private readonly historyLimit: number) {}

  /** The latest resourceVersion (what a list answers as `metadata.resourceVersion`). */
  get resourceVersion(): number { return this.#rv; }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestResumable(): number { return this.#compactedTo; }

  /** Reserves the next resourceVersion. */
  nextRv(): number {
    this.#rv += 1;
    return this.#rv;
  }

  /** The stored object (not a copy: callers must not mutate it). */
  peek(rt: ResourceType, ns: string, name: string): Obj | undefined {
    return this.#objects.get(typeKey(rt))?.get(nsName(ns, name));
  }

  /** Copies of all objects of a type, in one namespace or all. */
  all(rt: ResourceType, ns?: string): Obj[] {
    const m = this.#objects.get(typeKey(rt));
    if (!m) return [];
    const out: Obj[] = [];
    for (const [key, obj] of m) if (ns === undefined || key.startsWith(`${ns}/`)) out.push(clone(obj));
    return out.sort((a, b) => key(a).localeCompare(key(b)));
  }

  /** The stored objects of a type (not copies: read only), for scans that touch everything. */
  scan(rt: ResourceType, ns?: string): readonly Obj[] {
    const m = this.#objects.get(typeKey(rt));
    if (!m) return [];
    const out: Obj[] = [];
    for (const [key, obj] of m) if (ns === undefined || key.startsWith(`${ns}/`)) out.push(obj);
    return out;
  }

  /** Stores an object whose metadata.resourceVersion is already set to a fresh value. */
  put(rt: ResourceType, ns: string, obj: Obj): void {
    const name = String((obj.metadata as Obj).name);
    let m = this.#objects.get(typeKey(rt));
    if (!m) { m = new Map(); this.#objects.set(typeKey(rt), m); }
    const previous = m.get(nsName(ns, name));
    const stored = clone(obj);
    m.set(nsName(ns, name), stored);
    this.#emit({ rv: Number((obj.metadata as Obj).resourceVersion), type: previous ? 'MODIFIED' : 'ADDED', typeKey: typeKey(rt), namespace: ns, object: stored, ...(previous ? { previous } : {}) });
  }

  /** Removes an object; the DELETED event carries a new resourceVersion. */
  remove(rt: ResourceType, ns: string, name: string): Obj | undefined {
    const m = this.#objects.get(typeKey(rt));
    const previous = m?.get(nsName(ns, name));
    if (!m || !previous) return undefined;
    m.delete(nsName(ns, name));
    const rv = this.nextRv();
    const last = clone(previous);
    (last.metadata as Obj).resourceVersion = String(rv);
    this.#emit({ rv, type: 'DELETED', typeKey: typeKey(rt), namespace: ns, object: last });
    return last;
  }

  /** Changes after `rv`, or 'expired' when some of them are no longer kept. */
  since(rv: number): StoreEvent[] | 'expired' {
    if (rv < this.#compactedTo) return 'expired';
    return this.#history.filter((e) => e.rv > rv);
  }

  /** Calls `fn` for every change from now on; returns the unsubscribe function. */
  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => { this.#subscribers.delete(fn); };
  }

  /** Drops history so that only the newest `keep` changes remain (test hook for 410). */
  compact(keep = 0): void {
    while (this.#history.length > keep) {
      const dropped = this.#history.shift() as StoreEvent;
      this.#compactedTo = dropped.rv;
    }
    if (keep === 0) this.#compactedTo = this.#rv;
  }

  #emit(e: StoreEvent): void {
    this.#history.push(e);
    while (this.#history.length > this.historyLimit) {
      const dropped = this.#history.shift() as StoreEvent;
      this.#compactedTo = dropped.rv;
    }
    for (const fn of [...this.#subscribers]) fn(e);
  }
}

function key(o: Obj): string {
  const m = o.metadata as Obj;
  return `${String(m.namespace ?? '')}/${String(m.name)}`;
}
