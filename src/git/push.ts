/**
 * Pushes a branch to a remote that others push to as well. A push refused because the remote
 * moved on (non-fast-forward) is met with `pull --rebase` and tried again at once; any other
 * failure waits with a doubling backoff first. The outcome is data: deployment records keep
 * a commit that did not leave for the next push, a GitOps change throws.
 */
import { gitMessage, redact, type GitRunner } from './runner.js';

export interface PushOptions {
  /** A remote name or URL (credentials in it are masked in the error). */
  remote: string;
  /** The branch on the remote; HEAD is pushed to it. */
  branch: string;
  /** Retries after the first attempt (0: one attempt). */
  retries: number;
  /** First wait between attempts, doubled each time up to 30 s; default 1000. */
  backoffMs?: number;
  /** Waits between attempts; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
}

/** `error` is git's last words, redacted, with the number of attempts. */
export type PushResult = { pushed: true } | { pushed: false; error: string };

const MAX_BACKOFF_MS = 30_000;

/**
 * Pushes HEAD to `branch` on `remote`, rebasing onto the remote's branch when it moved on.
 * A rebase that fails (a conflict) is aborted, which leaves HEAD as it was.
 *
 * @example
 * ```ts
 * const r = await pushWithRebase(git, { remote: 'origin', branch: 'main', retries: 2 });
 * if (!r.pushed) log.warn({ error: r.error }, 'not pushed');
 * // r.error: "git push to origin failed: … (after 3 attempts)"
 * ```
 */
export async function pushWithRebase(git: GitRunner, opts: PushOptions): Promise<PushResult> {
  const { remote, branch } = opts;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const backoffMs = opts.backoffMs ?? 1000;
  const attempts = 1 + Math.max(0, opts.retries);
  let error = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const r = await git.run(['push', '--quiet', remote, `HEAD:refs/heads/${branch}`]);
    if (r.code === 0) return { pushed: true };
    error = `git push to ${remote} failed: ${gitMessage(r)}`;
    if (isBehindRemote(r.stderr)) {
      const pull = await git.run(['pull', '--rebase', '--quiet', remote, branch]);
      if (pull.code === 0) continue;
      await git.run(['rebase', '--abort']);
      error = `git pull --rebase from ${remote} failed: ${gitMessage(pull)}`;
    }
    if (attempt < attempts) await sleep(Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempt - 1)));
  }
  return { pushed: false, error: redact(`${error} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`) };
}

/** Whether git refused the push because the remote branch has commits HEAD lacks. */
function isBehindRemote(stderr: string): boolean {
  return /\[rejected\].*\((fetch first|non-fast-forward)\)/.test(stderr);
}
