/**
 * Follows the event log and writes a deployment record to Git whenever a deployment ends, and
 * a release record whenever a release of several services ends (`group.succeeded`,
 * `group.failed`, `group.rolled_back`). It works beside the engine, never inside it: a record
 * that cannot be written is an event (`record.failed`), and what it describes is unaffected. Its position in the log
 * is kept in `<stateDir>/records.cursor`, so a restart picks up exactly where it stopped.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GangwayConfig, RecordsConfig } from '../config/types.js';
import { systemClock, type Clock } from '../engine/clock.js';
import type { Logger } from '../core/logger.js';
import type { DeploymentView } from '../engine/types.js';
import { FINAL_PHASES, type DeploymentPhase, type EventRecord, type Store } from '../store/types.js';
import { readReleaseSummary, releaseEndOf, type ReleaseSummary } from '../releases/release-view.js';
import { GitRecords, type RecordFile } from './git-records.js';
import { renderRecord } from './record.js';
import { renderReleaseRecord } from './release-record.js';

/** The file name of the cursor inside `stateDir`. */
export const CURSOR_FILE = 'records.cursor';

export interface RecordsWriterOptions {
  store: Store;
  /** `records` must be set; `stateDir` holds the cursor. */
  config: Pick<GangwayConfig, 'records' | 'stateDir'>;
  /** The deployment as the API shows it (steps, latest gates, verdicts). */
  readDeployment(id: string): Promise<DeploymentView>;
  /** A release of several services with its services' outcomes; default read from `store`. */
  readRelease?(id: string): Promise<ReleaseSummary>;
  clock?: Clock;
  log?: Logger;
  /** How often the log is read while running; default 1000 ms. */
  intervalMs?: number;
  /** The Git writer; default one over `config.records`. */
  git?: GitRecords;
}

/**
 * What the writer did for one ended deployment or release: the event it appended. A release's
 * events have no deployment (`deploymentId` null) and name the release in `data.group`, as
 * the release's own events do.
 */
export interface RecordOutcome {
  deploymentId: string | null;
  type: 'record.written' | 'record.failed';
  data: Record<string, unknown>;
}

interface CursorFile { version: 1; afterId: number }

const BATCH = 200;
const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * Writes a record for every deployment that reaches a final phase (`succeeded`, `failed`,
 * `rolled_back`, `aborted`) and appends `record.written { path, commit, pushed }` when it
 * reached its destination (committed, and pushed when a remote is configured) or
 * `record.failed { error, … }` otherwise. On its first start (no cursor yet) it works through
 * the whole log, so deployments that ended before records were configured get theirs too.
 *
 * @example
 * ```ts
 * const writer = new RecordsWriter({ store, config, readDeployment: (id) => orchestrator.getDeployment(id) });
 * writer.start();
 * // … on shutdown
 * await writer.stop();
 * ```
 */
export class RecordsWriter {
  private readonly store: Store;
  private readonly records: RecordsConfig;
  private readonly cursorPath: string;
  private readonly readDeployment: (id: string) => Promise<DeploymentView>;
  private readonly readRelease: (id: string) => Promise<ReleaseSummary>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly git: GitRecords;
  private cursor: number | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private loop: { abort: AbortController; done: Promise<void> } | null = null;

  constructor(opts: RecordsWriterOptions) {
    if (!opts.config.records) throw new TypeError('RecordsWriter needs config.records (records: in gangway.yaml)');
    this.store = opts.store;
    this.records = opts.config.records;
    this.cursorPath = join(opts.config.stateDir, CURSOR_FILE);
    this.readDeployment = opts.readDeployment;
    this.readRelease = opts.readRelease ?? ((id) => readReleaseSummary(this.store, id));
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silent;
    this.intervalMs = opts.intervalMs ?? 1000;
    this.git = opts.git ?? new GitRecords({ config: this.records });
  }

  /** Starts following the log (every `intervalMs`). Idempotent. */
  start(): void {
    if (this.loop) return;
    // Read again at every start: another replica sharing the state folder may have moved it.
    this.cursor = null;
    const abort = new AbortController();
    const done = (async () => {
      while (!abort.signal.aborted) {
        try {
          await this.drain();
        } catch (err) {
          // The store or the cursor file failed; the same events are tried again next time.
          this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'records: reading the event log failed');
        }
        try {
          await this.clock.sleep(this.intervalMs, abort.signal);
        } catch {
          return;
        }
      }
    })();
    this.loop = { abort, done };
  }

  /** Stops following the log, after the record being written (if any) is done. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = null;
    if (!loop) return;
    loop.abort.abort();
    await loop.done;
    await this.chain.catch(() => undefined);
  }

  /**
   * Processes every event in the log now, up to the last one, and resolves with what it did.
   * Throws when the store or the cursor file cannot be read or written (nothing is skipped then).
   */
  drain(): Promise<RecordOutcome[]> {
    const run = this.chain.then(() => this.drainNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drainNow(): Promise<RecordOutcome[]> {
    const outcomes: RecordOutcome[] = [];
    let cursor = await this.loadCursor();
    for (;;) {
      const events = await this.store.listEvents({ afterId: cursor, limit: BATCH });
      if (events.length === 0) break;
      for (const ev of events) {
        const deploymentId = endedDeployment(ev);
        const releaseId = endedRelease(ev);
        if (deploymentId !== null) {
          const outcome = await this.recordOf(deploymentId, ev.id);
          if (outcome) outcomes.push(outcome);
        } else if (releaseId !== null) {
          const outcome = await this.releaseRecordOf(releaseId, ev.id);
          if (outcome) outcomes.push(outcome);
        }
        cursor = ev.id;
        // Saved after each record, so a crash repeats at most the record in hand.
        if (deploymentId !== null || releaseId !== null) await this.saveCursor(cursor);
      }
      await this.saveCursor(cursor);
      if (events.length < BATCH) break;
    }
    return outcomes;
  }

  /** Writes one deployment's record and appends the event saying how it went (undefined: already recorded). */
  private async recordOf(deploymentId: string, afterEventId: number): Promise<RecordOutcome | undefined> {
    // A restart between appending the event and saving the cursor must not append it twice.
    const later = await this.store.listEvents({ deploymentId, afterId: afterEventId });
    if (later.some((e) => e.type === 'record.written')) return undefined;

    const outcome = await this.commit(deploymentId, {}, async () => {
      const deployment = await this.readDeployment(deploymentId);
      const [approvals, checklist] = await Promise.all([this.store.listApprovals(deploymentId), this.store.listChecklist(deploymentId)]);
      return renderRecord({ deployment, approvals, checklist, config: this.records });
    });
    if (outcome.type === 'record.written') this.log.info({ deployment: deploymentId, ...outcome.data }, 'deployment record written');
    else this.log.warn({ deployment: deploymentId, ...outcome.data }, 'deployment record not written');
    return outcome;
  }

  /** Writes the record of a release as a whole and appends the event saying how it went (undefined: already recorded). */
  private async releaseRecordOf(releaseId: string, afterEventId: number): Promise<RecordOutcome | undefined> {
    // As for a deployment: a restart between appending the event and saving the cursor must not append it twice.
    const later = await this.store.listEvents({ afterId: afterEventId, types: ['record.written'] });
    if (later.some((e) => e.deploymentId === null && e.data.group === releaseId)) return undefined;

    const outcome = await this.commit(null, { group: releaseId }, async () => renderReleaseRecord({ release: await this.readRelease(releaseId), config: this.records }));
    if (outcome.type === 'record.written') this.log.info({ release: releaseId, ...outcome.data }, 'release record written');
    else this.log.warn({ release: releaseId, ...outcome.data }, 'release record not written');
    return outcome;
  }

  /** Renders a record, commits (and pushes) it, and appends `record.written` or `record.failed` with `about` in its data. */
  private async commit(deploymentId: string | null, about: Record<string, unknown>, render: () => Promise<RecordFile>): Promise<RecordOutcome> {
    let outcome: RecordOutcome;
    try {
      const r = await this.git.write(await render());
      const reached = r.error === undefined && (r.pushed || this.records.remote === null);
      outcome = reached
        ? { deploymentId, type: 'record.written', data: { ...about, path: r.path, commit: r.committed, pushed: r.pushed } }
        : { deploymentId, type: 'record.failed', data: { ...about, error: r.error ?? 'not pushed', path: r.path, commit: r.committed, pushed: false } };
    } catch (err) {
      outcome = { deploymentId, type: 'record.failed', data: { ...about, error: err instanceof Error ? err.message : String(err) } };
    }
    await this.store.appendEvents([{ deploymentId, at: this.clock.now(), type: outcome.type, data: outcome.data }]);
    return outcome;
  }

  private async loadCursor(): Promise<number> {
    if (this.cursor !== null) return this.cursor;
    let text: string;
    try {
      text = await readFile(this.cursorPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.cursor = 0;
      return 0;
    }
    const parsed = parseCursor(text);
    if (parsed === null) {
      // Starting over is safe: records are idempotent in Git and already-recorded deployments are skipped.
      this.log.error({ file: this.cursorPath }, 'records: cursor file is unreadable; starting from the beginning of the log');
      this.cursor = 0;
      return 0;
    }
    this.cursor = parsed;
    return parsed;
  }

  private async saveCursor(afterId: number): Promise<void> {
    if (afterId === this.cursor) return;
    const body: CursorFile = { version: 1, afterId };
    await mkdir(join(this.cursorPath, '..'), { recursive: true });
    const tmp = `${this.cursorPath}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(body)}\n`);
    await rename(tmp, this.cursorPath);
    this.cursor = afterId;
  }
}

/** The deployment a `deployment.phase` event ends, or null for any other event. */
function endedDeployment(ev: EventRecord): string | null {
  if (ev.type !== 'deployment.phase' || ev.deploymentId === null) return null;
  return FINAL_PHASES.includes(ev.data.to as DeploymentPhase) ? ev.deploymentId : null;
}

/** The release a `group.succeeded`, `group.failed` or `group.rolled_back` event ends, or null for any other event. */
function endedRelease(ev: EventRecord): string | null {
  return releaseEndOf(ev)?.release ?? null;
}

function parseCursor(text: string): number | null {
  try {
    const v = JSON.parse(text) as Partial<CursorFile>;
    return v && v.version === 1 && Number.isSafeInteger(v.afterId) && (v.afterId as number) >= 0 ? v.afterId as number : null;
  } catch {
    return null;
  }
}
