/**
 * Running the user's `helm` binary: argv through `execFile` (never a shell), a limit on each
 * run, a kill when the target closes, and helm's faults as Gangway's — a binary that is missing
 * is `invalid_config` naming `target.helm.helm`, an unreachable cluster is `unreachable` (the
 * runner retries the step), any other non-zero exit is `deployment_failed` carrying helm's own
 * stderr (trimmed). Also the shapes Gangway reads from `helm status -o json` and
 * `helm history -o json`.
 */
import { execFile } from 'node:child_process';
import { GangwayError, UnreachableError } from '../../errors.js';

/** Why a helm run failed, with helm's stderr (trimmed) and its exit code. */
export class HelmCommandError extends GangwayError {
  override name = 'HelmCommandError';
  constructor(readonly command: string, readonly stderr: string, readonly exitCode: number | null, message: string) {
    super('deployment_failed', message, undefined, { command, exitCode });
  }
}

/** Options of one helm run. */
export interface HelmRunOptions {
  /** Kill the run after this long (helm's own `--timeout` plus a margin). */
  limitMs: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /**
   * Ends the run early, as a person pressing Ctrl-C does: helm gets SIGTERM (Helm 3 then marks
   * the revision under way `failed`, "context canceled") and the promise settles only once the
   * process has exited — so the release is free for the next helm run (a rollback) the moment it
   * does. A helm still running `STOP_GRACE_MS` later is killed.
   */
  stop?: AbortSignal;
}

/** How long a stopped helm gets to record its revision failed and exit before it is killed. */
export const STOP_GRACE_MS = 30_000;

/** Helm's `release: not found` (the storage driver's error), which `status` and `history` print for an unknown release. */
export const RELEASE_NOT_FOUND = /^Error: release: not found\s*$/;

/**
 * Runs `helm <args>` and resolves to its stdout; rejects as described in the file's header.
 *
 * @example await runHelm('helm', ['status', 'web', '-n', 'shop', '-o', 'json'], { limitMs: 60_000 })
 */
export function runHelm(binary: string, args: string[], o: HelmRunOptions): Promise<string> {
  const what = `helm ${args.find((a) => !a.startsWith('-')) ?? ''}`.trim();
  return new Promise((resolve, reject) => {
    let grace: NodeJS.Timeout | null = null;
    let stopped = false;
    const onStop = () => {
      stopped = true;
      child.kill('SIGTERM');
      grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    };
    const child = execFile(binary, args, { env: o.env ?? process.env, timeout: o.limitMs, killSignal: 'SIGTERM', maxBuffer: 64 * 1024 * 1024, signal: o.signal }, (err, stdout, stderr) => {
      o.stop?.removeEventListener('abort', onStop);
      if (grace) clearTimeout(grace);
      if (!err) { resolve(String(stdout)); return; }
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number };
      if (e.code === 'ENOENT' || e.code === 'EACCES') {
        reject(missingHelm(binary, e.code === 'EACCES' ? 'is not executable' : 'was not found'));
        return;
      }
      const text = String(stderr).trim();
      if (e.name === 'AbortError') {
        reject(new HelmCommandError(what, text, null, `${what} was stopped: Gangway is shutting down`));
        return;
      }
      if (stopped) {
        reject(new HelmCommandError(what, text, typeof e.code === 'number' ? e.code : null, `${what} was stopped${text ? `: ${text}` : ''}`));
        return;
      }
      if (e.killed || (e.signal && typeof e.code !== 'number')) {
        reject(new HelmCommandError(what, text, null, `${what} did not finish within ${Math.round(o.limitMs / 1000)}s (target.helm.timeout and a margin) and was stopped${text ? `: ${text}` : ''}`));
        return;
      }
      if (/Kubernetes cluster unreachable/.test(text)) {
        reject(new UnreachableError(`${what}: ${text}`, 'check that the cluster is up and target.helm.kubeconfig and context point at it'));
        return;
      }
      reject(new HelmCommandError(what, text, typeof e.code === 'number' ? e.code : null, `${what} failed: ${text || `exit code ${String(e.code)}`}`));
    });
    // Not execFile's `signal`: that settles at once, while helm is still writing its revision.
    if (o.stop?.aborted) onStop();
    else o.stop?.addEventListener('abort', onStop, { once: true });
  });
}

function missingHelm(binary: string, why: string): GangwayError {
  return new GangwayError('invalid_config', `target.helm.helm: the helm binary "${binary}" ${why}`,
    'install Helm 3.7 or later (https://helm.sh/docs/intro/install/), or set target.helm.helm to its path');
}

/**
 * Checks that `binary` is a Helm that Gangway can drive (3.7 or later: `--post-renderer-args`),
 * for `gangway up` and `validate --check-tools`; resolves to its version (`v3.16.2`).
 *
 * @example await checkHelm('helm') // 'v3.16.2'
 * @throws GangwayError (`invalid_config`) naming the binary and `target.helm.helm` when it is missing, fails or is too old.
 */
export async function checkHelm(binary: string, o: { env?: NodeJS.ProcessEnv; limitMs?: number } = {}): Promise<string> {
  let out: string;
  try {
    out = await runHelm(binary, ['version', '--short'], { limitMs: o.limitMs ?? 30_000, env: o.env });
  } catch (err) {
    if (err instanceof HelmCommandError) {
      throw new GangwayError('invalid_config', `target.helm.helm: "${binary} version --short" failed: ${err.stderr || err.message}`, 'check that target.helm.helm is a working Helm 3 binary');
    }
    throw err;
  }
  const version = out.trim().split('+')[0]!;
  const m = /^v?(\d+)\.(\d+)\./.exec(version);
  if (!m || Number(m[1]) < 3 || (Number(m[1]) === 3 && Number(m[2]) < 7)) {
    throw new GangwayError('invalid_config', `target.helm.helm: "${binary}" is Helm ${version || '(no version printed)'}; Gangway needs Helm 3.7 or later (--post-renderer-args)`,
      'install Helm 3.7 or later, or set target.helm.helm to its path');
  }
  return version;
}

/** One row of `helm history -o json`. */
export interface HelmHistoryRow { revision: number; updated: string; status: string; chart: string; app_version: string; description: string }

/** The fields Gangway reads of `helm status -o json`. */
export interface HelmStatus { name: string; version: number; namespace: string; manifest?: string; info: { status: string; description?: string; last_deployed?: string }; chart?: { metadata?: { name?: string; version?: string } } }

/** Parses `helm history -o json`, checking the fields Gangway reads. */
export function parseHistory(text: string): HelmHistoryRow[] {
  const rows = JSON.parse(text) as unknown;
  if (!Array.isArray(rows) || rows.some((r) => typeof (r as HelmHistoryRow)?.revision !== 'number')) {
    throw new GangwayError('internal', `helm history -o json printed something else than Helm's history: ${text.slice(0, 200)}`);
  }
  return rows as HelmHistoryRow[];
}

/** Parses `helm status -o json`, checking the fields Gangway reads. */
export function parseStatus(text: string): HelmStatus {
  const s = JSON.parse(text) as HelmStatus;
  if (typeof s?.version !== 'number' || typeof s.info?.status !== 'string') {
    throw new GangwayError('internal', `helm status -o json printed something else than a Helm release: ${text.slice(0, 200)}`);
  }
  return s;
}

/** The prefix of every revision description Gangway writes; another one means the revision was made outside Gangway. */
export const DESCRIPTION_PREFIX = 'gangway: ';

/**
 * The description of a revision Gangway deploys (`--description`), naming the version and the
 * deployment; `describedVersion` reads the version back.
 *
 * @example deployDescription('1.2.0', { deploymentId: 'd-1', actor: 'ci', reason: 'CHG-7', stage: 'deploy' })
 * // 'gangway: deploy 1.2.0 (d-1 by ci: CHG-7)'
 */
export function deployDescription(version: string, ctx?: { deploymentId: string; actor: string; reason: string | null }): string {
  const who = ctx ? ` (${ctx.deploymentId} by ${ctx.actor}${ctx.reason ? `: ${ctx.reason}` : ''})` : '';
  return `${DESCRIPTION_PREFIX}deploy ${version}${who}`;
}

/** The description of a revision that only changes replicas (`gangway: scale 1.2.0 to 0`): never a rollback target. */
export function scaleDescription(version: string, count: number): string {
  return `${DESCRIPTION_PREFIX}scale ${version} to ${count}`;
}

/**
 * The version a revision of the history runs, read from the descriptions Gangway writes and
 * following Helm's `Rollback to N`; null for a revision made outside Gangway or one that only
 * scaled (`scaled: true` counts those too).
 */
export function describedVersion(rows: readonly HelmHistoryRow[], revision: number, o: { scaled?: boolean } = {}): string | null {
  const seen = new Set<number>();
  let r = rows.find((x) => x.revision === revision);
  while (r && !seen.has(r.revision)) {
    seen.add(r.revision);
    const deploy = /^gangway: deploy (\S+)/.exec(r.description);
    if (deploy) return deploy[1]!;
    const scale = /^gangway: scale (\S+) to \d+$/.exec(r.description);
    if (scale) return o.scaled ? scale[1]! : null;
    const back = /^Rollback to (\d+)$/.exec(r.description);
    if (!back) return null;
    const to = Number(back[1]);
    r = rows.find((x) => x.revision === to);
  }
  return null;
}

/** Whether a revision was made by Gangway: its description is Gangway's, or it rolled back to one that was. */
export function madeByGangway(rows: readonly HelmHistoryRow[], revision: number): boolean {
  return describedVersion(rows, revision, { scaled: true }) !== null;
}
