/**
 * Checking and exporting the hash-chained event log (the chain itself: src/store/event-chain.ts).
 *
 * What the chain proves: an event edited, deleted or moved after it was written breaks the
 * chain at a named event, unless whoever changed it also recomputed every later hash. That
 * last case — and deleting events at the very end — is caught by an anchor: a head (`id`
 * and `hash`) an auditor copied somewhere Gangway cannot write. `verifyChain` with that
 * anchor then fails when the event with that id no longer carries that hash.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { GangwayError } from '../errors.js';
import { GENESIS_HASH, eventHash } from '../store/event-chain.js';
import type { EventRecord } from '../store/types.js';

/** The last event of a checked log, or a copy of it kept elsewhere (an anchor). */
export interface ChainHead { id: number; hash: string }

/** Ids missing between two consecutive events whose hashes still link (see {@link ChainVerdict}). */
export interface IdGap {
  /** The event before the gap. */
  after: number;
  /** The event after it. */
  next: number;
}

/**
 * The outcome of {@link verifyChain}. `count`: events found intact (all of them, or those
 * before `firstBad`). `gaps` lists up to {@link MAX_GAPS} places where ids are missing although
 * the hashes link across them: the store assigns ids without gaps, so there either a write
 * past the store took ids, PostgreSQL skipped ids before the chain existed (migration
 * 0004), or events were removed and every later hash recomputed — which an anchor settles.
 */
export type ChainVerdict =
  | { ok: true; count: number; head: ChainHead | null; gaps: IdGap[] }
  | { ok: false; count: number; firstBad: { id: number; reason: string }; gaps: IdGap[] };

/** Most gaps a verdict lists. */
export const MAX_GAPS = 100;

/** Options of {@link verifyChain}. */
export interface VerifyOptions {
  /** A head recorded earlier: the event with its id must still be in the log with its hash. */
  anchor?: ChainHead;
}

/**
 * Checks events one at a time, in the order they are given (which must be id order). Keeps
 * only the previous event, so any log size fits in memory.
 *
 * @example
 * ```ts
 * const v = new ChainVerifier();
 * for (const e of events) if (!v.push(e)) break;
 * const verdict = v.finish();
 * ```
 */
export class ChainVerifier {
  #count = 0;
  #prev: ChainHead | undefined;
  #bad: { id: number; reason: string } | undefined;
  #anchor: ChainHead | undefined;
  #anchorSeen = false;
  readonly #gaps: IdGap[] = [];

  constructor(options: VerifyOptions = {}) {
    this.#anchor = options.anchor;
  }

  /** Checks the next event; false once the chain is broken (later events are not looked at). */
  push(e: EventRecord): boolean {
    if (this.#bad) return false;
    const reason = this.#problem(e);
    if (reason !== undefined) {
      this.#bad = { id: reason.id, reason: reason.text };
      return false;
    }
    if (this.#prev && e.id !== this.#prev.id + 1 && this.#gaps.length < MAX_GAPS) this.#gaps.push({ after: this.#prev.id, next: e.id });
    this.#count++;
    this.#prev = { id: e.id, hash: e.hash };
    return true;
  }

  /** The verdict over every event pushed. */
  finish(): ChainVerdict {
    if (!this.#bad && this.#anchor && !this.#anchorSeen) {
      const last = this.#prev?.id;
      this.#bad = {
        id: this.#anchor.id,
        reason: last === undefined
          ? `event ${this.#anchor.id}: anchored, but the log is empty (every event was deleted)`
          : `event ${this.#anchor.id}: anchored, but the log ends at event ${last} (events at its end were deleted)`,
      };
    }
    const gaps = [...this.#gaps];
    if (this.#bad) return { ok: false, count: this.#count, firstBad: { ...this.#bad }, gaps };
    return { ok: true, count: this.#count, head: this.#prev ? { ...this.#prev } : null, gaps };
  }

  #problem(e: EventRecord): { id: number; text: string } | undefined {
    const prev = this.#prev;
    if (prev && e.id === prev.id) return { id: e.id, text: `event ${e.id}: appears twice` };
    if (prev && e.id < prev.id) return { id: e.id, text: `event ${e.id}: comes after event ${prev.id} (events were reordered)` };
    if (!e.hash) return { id: e.id, text: `event ${e.id}: has no hash (written past the store?)` };
    // The link is checked before the content: a moved event links to the wrong predecessor,
    // which names the move; an edited one still links and fails on its content.
    if (e.prevHash !== (prev ? prev.hash : GENESIS_HASH)) {
      return {
        id: e.id,
        text: prev
          ? `event ${e.id}: previous hash does not match event ${prev.id} (an event before it was deleted or reordered)`
          : `event ${e.id}: previous hash does not match the start of the log (an event before it was deleted or reordered)`,
      };
    }
    if (eventHash(e.prevHash, e) !== e.hash) return { id: e.id, text: `event ${e.id}: content does not match its hash (edited?)` };
    const anchor = this.#anchor;
    if (anchor && !this.#anchorSeen) {
      if (e.id === anchor.id) {
        this.#anchorSeen = true;
        if (e.hash !== anchor.hash) return { id: e.id, text: `event ${e.id}: hash differs from the anchored one (the log up to it was rewritten)` };
      } else if (e.id > anchor.id) {
        return { id: anchor.id, text: `event ${anchor.id}: anchored, but missing from the log (deleted)` };
      }
    }
    return undefined;
  }
}

/**
 * Verifies the chain over `events` in the order given (id order, as the store lists them),
 * stopping at the first broken link. Reads an async source one event at a time.
 *
 * @example
 * ```ts
 * const verdict = await verifyChain(readEventLog(store));
 * if (!verdict.ok) console.error(verdict.firstBad.reason); // "event 42: content does not match its hash (edited?)"
 * ```
 */
export async function verifyChain(events: AsyncIterable<EventRecord> | Iterable<EventRecord>, options: VerifyOptions = {}): Promise<ChainVerdict> {
  const verifier = new ChainVerifier(options);
  for await (const e of events) if (!verifier.push(e)) break;
  return verifier.finish();
}

/** Where the log can be read from in pages: a `Store`, or the orchestrator API. */
export type EventSource =
  | { listEvents(filter: { afterId?: number; limit?: number }): Promise<EventRecord[]> }
  | { events(q: { afterId?: number; limit?: number }): Promise<EventRecord[]> };

/**
 * The whole event log in id order, read `pageSize` events at a time.
 *
 * @example
 * ```ts
 * for await (const e of readEventLog(store)) console.log(e.id);
 * ```
 */
export async function* readEventLog(source: EventSource, pageSize = 500): AsyncGenerator<EventRecord> {
  const page = (afterId: number) => 'listEvents' in source
    ? source.listEvents({ afterId, limit: pageSize })
    : source.events({ afterId, limit: pageSize });
  let afterId = 0;
  for (;;) {
    const batch = await page(afterId);
    for (const e of batch) yield e;
    if (batch.length < pageSize) return;
    afterId = batch[batch.length - 1].id;
  }
}

/** One event as a line of the export: a JSON object, fields in a fixed order, and a newline. */
export function eventLine(e: EventRecord): string {
  return `${JSON.stringify({ id: e.id, deploymentId: e.deploymentId, at: e.at, type: e.type, data: e.data, hash: e.hash, prevHash: e.prevHash })}\n`;
}

/**
 * Writes the whole log as JSON lines (one event per line, with `hash` and `prevHash`), in id
 * order; waits for `write` when it returns a promise. Resolves with the number of events.
 *
 * @example
 * ```ts
 * const count = await exportJsonLines(store, (line) => out.write(line));
 * ```
 */
export async function exportJsonLines(source: EventSource, write: (line: string) => unknown): Promise<number> {
  let count = 0;
  for await (const e of readEventLog(source)) {
    await write(eventLine(e));
    count++;
  }
  return count;
}

const exportedEvent = z.strictObject({
  id: z.number().int().positive(),
  deploymentId: z.string().nullable(),
  at: z.number(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  hash: z.string(),
  prevHash: z.string(),
});

/**
 * Reads an export written by {@link exportJsonLines} back as events, one line at a time.
 * Throws `invalid_argument` naming `file:line` for a line that is not an exported event, and
 * for a file that cannot be read. Blank lines are skipped.
 *
 * @example
 * ```ts
 * const verdict = await verifyChain(readJsonLinesFile('events.jsonl'));
 * ```
 */
export async function* readJsonLinesFile(file: string): AsyncGenerator<EventRecord> {
  const input = createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => { input.once('open', () => resolve()); input.once('error', reject); });
  try {
    await opened;
  } catch (err) {
    throw new GangwayError('invalid_argument', `cannot read ${file}: ${(err as Error).message}`, 'pass a file written by `gangway audit export --file`', { file }, { cause: err });
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new GangwayError('invalid_argument', `${file}:${n}: not JSON`, 'each line of an export is one JSON event', { file, line: n });
      }
      const parsed = exportedEvent.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new GangwayError('invalid_argument', `${file}:${n}: not an exported event (${issue.path.join('.') || 'event'}: ${issue.message})`,
          'each line needs id, deploymentId, at, type, data, hash and prevHash', { file, line: n });
      }
      yield parsed.data as EventRecord;
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Parses an anchor given as `ID:HASH` (the head `audit verify` prints). Throws
 * `invalid_argument` otherwise.
 *
 * @example
 * ```ts
 * parseAnchor('120:9f86d0…'); // { id: 120, hash: '9f86d0…' }
 * ```
 */
export function parseAnchor(text: string): ChainHead {
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) {
    throw new GangwayError('invalid_argument', `anchor: "${text}" is not ID:HASH`,
      'give the head that `gangway audit verify` printed, e.g. 120:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  }
  return { id: Number(m[1]), hash: m[2] };
}
