/**
 * Commits deployment (and release) records to a Git repository and pushes them, with the real `git` binary.
 * Every git command is an argv (never a shell); the author and committer come from the config
 * through the environment, so the machine needs no global git identity. Pushing is best
 * effort with retries: a remote that is down or refuses the push is reported in the result,
 * never thrown, and the commit stays in the local repository to leave with the next push.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { RecordsConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import { pushWithRebase } from '../git/push.js';
import { GitRunner } from '../git/runner.js';
import { commitPath, exclusive, isBranchName, treePath } from '../git/worktree.js';
import type { RenderedRecord } from './record.js';

export { redact } from '../git/runner.js';

/** What `GitRecords.write` needs of a record (a deployment's or a release's): where it goes, what it says, its commit message. */
export type RecordFile = Pick<RenderedRecord, 'path' | 'content' | 'message'>;

/** The outcome of one `GitRecords.write`. */
export interface GitWriteResult {
  /** The record's path inside the repository. */
  path: string;
  /** Sha of the commit that holds the record as written (an earlier one when nothing changed). */
  committed: string;
  /** Whether this write made a new commit (false: the record was already committed as is). */
  changed: boolean;
  /** Whether the branch reached the remote; false when no remote is configured or pushing failed. */
  pushed: boolean;
  /** Why pushing failed after every attempt (credentials in URLs masked). */
  error?: string;
}

/** A fault that keeps a record from being committed at all: no repository, no git, a failing commit. */
export class GitRecordsError extends GangwayError {
  override name = 'GitRecordsError';
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('internal', message, hint, undefined, options);
  }
}

export interface GitRecordsOptions {
  config: RecordsConfig;
  /** Waits between push attempts; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
  /** First backoff between push attempts, doubled each time up to 30 s; default 1000. */
  backoffMs?: number;
  /** Limit for one git command; default 120 s (a push over a slow network). */
  commandTimeoutMs?: number;
}

/**
 * Writes records into `config.repo` and commits them on `config.branch` (or the current
 * branch), then pushes to `config.remote` when one is set. Writes to one working tree are
 * serialised, across instances too.
 *
 * @example
 * ```ts
 * const git = new GitRecords({ config: config.records });
 * const r = await git.write(renderRecord({ deployment, approvals, checklist, config: config.records }));
 * if (!r.pushed && r.error) log.warn({ error: r.error }, 'record not pushed');
 * ```
 */
export class GitRecords {
  private readonly config: RecordsConfig;
  private readonly sleep?: (ms: number) => Promise<void>;
  private readonly backoffMs?: number;
  private readonly git: GitRunner;

  constructor(opts: GitRecordsOptions) {
    this.config = opts.config;
    this.sleep = opts.sleep;
    this.backoffMs = opts.backoffMs;
    this.git = new GitRunner({
      cwd: opts.config.repo, author: opts.config.author, timeoutMs: opts.commandTimeoutMs,
      fault: (message, hint, options) => new GitRecordsError(message, hint, options),
    });
  }

  /**
   * Writes the record's file, commits it, and pushes when a remote is configured.
   * Idempotent: a record already committed with the same content makes no new commit (the
   * push is still tried, so a commit left behind by an earlier failed push leaves now).
   * Throws `GitRecordsError` when nothing could be committed; push failures are in the result.
   */
  write(record: RecordFile): Promise<GitWriteResult> {
    return exclusive(this.config.repo, () => this.writeNow(record));
  }

  private async writeNow(record: RecordFile): Promise<GitWriteResult> {
    const repo = await this.ensureRepo();
    const branch = await this.ensureBranch();
    const gitPath = treePath(repo, record.path);
    if (gitPath === null) {
      throw new GitRecordsError(`record path "${record.path}" is outside the records repository ${repo}`);
    }
    const abs = resolve(repo, gitPath);

    const current = await readFile(abs, 'utf8').catch(() => null);
    if (current !== record.content) {
      await mkdir(dirname(abs), { recursive: true });
      const tmp = `${abs}.${process.pid}.tmp`;
      await writeFile(tmp, record.content);
      await rename(tmp, abs);
    }
    const changed = await commitPath(this.git, gitPath, record.message, 'the record');

    const result: GitWriteResult = { path: gitPath, committed: await this.commitOf(gitPath), changed, pushed: false };
    if (this.config.remote === null) return result;
    const push = await pushWithRebase(this.git, {
      remote: this.config.remote, branch, retries: this.config.pushRetries, backoffMs: this.backoffMs, sleep: this.sleep,
    });
    return { ...result, committed: await this.commitOf(gitPath), ...push };
  }

  private async ensureRepo(): Promise<string> {
    const repo = this.config.repo;
    const info = await stat(repo).catch(() => null);
    if (!info?.isDirectory()) {
      throw new GitRecordsError(`records repository ${repo} does not exist`, `clone the records repository there (git clone <url> ${repo}) or fix records.repo in gangway.yaml`);
    }
    const r = await this.git.run(['rev-parse', '--show-toplevel']);
    if (r.code !== 0) {
      throw new GitRecordsError(`records repository ${repo} is not a git repository`, `clone the records repository there (git clone <url> ${repo}) or run git init in it`);
    }
    return repo;
  }

  /** Puts the working tree on the configured branch (created from the remote's, or from HEAD, when missing). */
  private async ensureBranch(): Promise<string> {
    const want = this.config.branch;
    const remote = this.config.remote;
    if (remote !== null && remote.startsWith('-')) throw new GitRecordsError(`records.remote "${remote}" is not a remote name or URL`);
    const current = (await this.git.run(['symbolic-ref', '--quiet', '--short', 'HEAD'])).stdout.trim();
    if (want === null) {
      if (current === '') throw new GitRecordsError(`records repository ${this.config.repo} is not on a branch (detached HEAD)`, 'set records.branch in gangway.yaml or check out a branch there');
      return current;
    }
    if (!(await isBranchName(this.git, want))) {
      throw new GitRecordsError(`records.branch "${want}" is not a valid branch name`);
    }
    if (current === want) return want;
    if ((await this.git.run(['rev-parse', '--verify', '--quiet', 'HEAD'])).code !== 0) {
      // A repository without commits: the first commit simply starts the branch.
      await this.git.must(['symbolic-ref', 'HEAD', `refs/heads/${want}`], `start branch ${want}`);
      return want;
    }
    if ((await this.git.run(['rev-parse', '--verify', '--quiet', `refs/heads/${want}`])).code === 0) {
      await this.git.must(['switch', '--quiet', want], `switch to branch ${want}`);
    } else if (remote !== null && (await this.git.run(['fetch', '--quiet', remote, `refs/heads/${want}`])).code === 0) {
      await this.git.must(['switch', '--quiet', '-c', want, 'FETCH_HEAD'], `create branch ${want} from ${remote}`);
    } else {
      await this.git.must(['switch', '--quiet', '-c', want], `create branch ${want}`);
    }
    return want;
  }

  private async commitOf(gitPath: string): Promise<string> {
    return (await this.git.must(['log', '-1', '--format=%H', '--', gitPath], 'find the record\'s commit')).stdout.trim();
  }
}
