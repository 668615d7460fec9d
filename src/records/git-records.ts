/**
 * Commits deployment records to a Git repository and pushes them, with the real `git` binary.
 * Every git command is an argv (never a shell); the author and committer come from the config
 * through the environment, so the machine needs no global git identity. Pushing is best
 * effort with retries: a remote that is down or refuses the push is reported in the result,
 * never thrown, and the commit stays in the local repository to leave with the next push.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { RecordsConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { RenderedRecord } from './record.js';

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

interface GitRun { code: number; stdout: string; stderr: string }

/**
 * Writes records into `config.repo` and commits them on `config.branch` (or the current
 * branch), then pushes to `config.remote` when one is set. Writes are serialised: one
 * instance owns the working tree.
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
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: GitRecordsOptions) {
    this.config = opts.config;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.backoffMs = opts.backoffMs ?? 1000;
    this.timeoutMs = opts.commandTimeoutMs ?? 120_000;
    const env: NodeJS.ProcessEnv = { ...process.env };
    // A caller running inside a git hook would otherwise point every command at its own repository.
    for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_PREFIX']) delete env[k];
    Object.assign(env, {
      GIT_AUTHOR_NAME: opts.config.author.name,
      GIT_AUTHOR_EMAIL: opts.config.author.email,
      GIT_COMMITTER_NAME: opts.config.author.name,
      GIT_COMMITTER_EMAIL: opts.config.author.email,
      // Never wait for a person: no credential prompt, no editor during a rebase.
      GIT_TERMINAL_PROMPT: '0',
      GIT_EDITOR: 'true',
      GIT_SEQUENCE_EDITOR: 'true',
      // Messages are matched (push rejections), so they must not be translated.
      LC_ALL: 'C',
      LANGUAGE: 'C',
    });
    this.env = env;
  }

  /**
   * Writes the record's file, commits it, and pushes when a remote is configured.
   * Idempotent: a record already committed with the same content makes no new commit (the
   * push is still tried, so a commit left behind by an earlier failed push leaves now).
   * Throws `GitRecordsError` when nothing could be committed; push failures are in the result.
   */
  write(record: RenderedRecord): Promise<GitWriteResult> {
    const run = this.queue.then(() => this.writeNow(record));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeNow(record: RenderedRecord): Promise<GitWriteResult> {
    const repo = await this.ensureRepo();
    const branch = await this.ensureBranch();
    const abs = resolve(repo, record.path);
    const rel = relative(repo, abs);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new GitRecordsError(`record path "${record.path}" is outside the records repository ${repo}`);
    }
    const gitPath = rel.split(sep).join('/');

    const current = await readFile(abs, 'utf8').catch(() => null);
    if (current !== record.content) {
      await mkdir(dirname(abs), { recursive: true });
      const tmp = `${abs}.${process.pid}.tmp`;
      await writeFile(tmp, record.content);
      await rename(tmp, abs);
    }
    await this.must(['add', '--', gitPath], 'stage the record');
    const diff = await this.git(['diff', '--cached', '--quiet', '--', gitPath]);
    const changed = diff.code === 1;
    if (diff.code !== 0 && diff.code !== 1) throw this.failure('compare the record with the last commit', diff);
    // Committing the path alone leaves anything else someone staged in this folder alone.
    if (changed) await this.must(['commit', '--quiet', '-m', record.message, '--', gitPath], 'commit the record');

    const result: GitWriteResult = { path: gitPath, committed: await this.commitOf(gitPath), changed, pushed: false };
    if (this.config.remote === null) return result;
    const push = await this.push(this.config.remote, branch);
    return { ...result, committed: await this.commitOf(gitPath), ...push };
  }

  /** Pushes HEAD to the branch; a rejection because the remote moved on is met with a rebase. */
  private async push(remote: string, branch: string): Promise<{ pushed: boolean; error?: string }> {
    // pushRetries counts the retries after the first push.
    const attempts = 1 + Math.max(0, this.config.pushRetries);
    let error = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const r = await this.git(['push', '--quiet', remote, `HEAD:refs/heads/${branch}`]);
      if (r.code === 0) return { pushed: true };
      error = `git push to ${remote} failed: ${gitMessage(r)}`;
      if (/\[rejected\].*\((fetch first|non-fast-forward)\)/.test(r.stderr)) {
        const pull = await this.git(['pull', '--rebase', '--quiet', remote, branch]);
        if (pull.code === 0) continue;
        await this.git(['rebase', '--abort']);
        error = `git pull --rebase from ${remote} failed: ${gitMessage(pull)}`;
      }
      if (attempt < attempts) await this.sleep(Math.min(30_000, this.backoffMs * 2 ** (attempt - 1)));
    }
    return { pushed: false, error: redact(`${error} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`) };
  }

  private async ensureRepo(): Promise<string> {
    const repo = this.config.repo;
    const info = await stat(repo).catch(() => null);
    if (!info?.isDirectory()) {
      throw new GitRecordsError(`records repository ${repo} does not exist`, `clone the records repository there (git clone <url> ${repo}) or fix records.repo in gangway.yaml`);
    }
    const r = await this.git(['rev-parse', '--show-toplevel']);
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
    const current = (await this.git(['symbolic-ref', '--quiet', '--short', 'HEAD'])).stdout.trim();
    if (want === null) {
      if (current === '') throw new GitRecordsError(`records repository ${this.config.repo} is not on a branch (detached HEAD)`, 'set records.branch in gangway.yaml or check out a branch there');
      return current;
    }
    if (want.startsWith('-') || (await this.git(['check-ref-format', '--branch', want])).code !== 0) {
      throw new GitRecordsError(`records.branch "${want}" is not a valid branch name`);
    }
    if (current === want) return want;
    if ((await this.git(['rev-parse', '--verify', '--quiet', 'HEAD'])).code !== 0) {
      // A repository without commits: the first commit simply starts the branch.
      await this.must(['symbolic-ref', 'HEAD', `refs/heads/${want}`], `start branch ${want}`);
      return want;
    }
    if ((await this.git(['rev-parse', '--verify', '--quiet', `refs/heads/${want}`])).code === 0) {
      await this.must(['switch', '--quiet', want], `switch to branch ${want}`);
    } else if (remote !== null && (await this.git(['fetch', '--quiet', remote, `refs/heads/${want}`])).code === 0) {
      await this.must(['switch', '--quiet', '-c', want, 'FETCH_HEAD'], `create branch ${want} from ${remote}`);
    } else {
      await this.must(['switch', '--quiet', '-c', want], `create branch ${want}`);
    }
    return want;
  }

  private async commitOf(gitPath: string): Promise<string> {
    return (await this.must(['log', '-1', '--format=%H', '--', gitPath], 'find the record\'s commit')).stdout.trim();
  }

  private async must(args: string[], what: string): Promise<GitRun> {
    const r = await this.git(args);
    if (r.code !== 0) throw this.failure(what, r);
    return r;
  }

  private failure(what: string, r: GitRun): GitRecordsError {
    return new GitRecordsError(redact(`could not ${what} in ${this.config.repo}: ${gitMessage(r)}`));
  }

  private git(args: string[]): Promise<GitRun> {
    return new Promise((done, fail) => {
      execFile('git', args, { cwd: this.config.repo, env: this.env, timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          fail(new GitRecordsError('git is not installed', 'install git (Debian package git)', { cause: err }));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
      });
    });
  }
}

/** Git's own words, without its hints, on one line. */
function gitMessage(r: GitRun): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:'));
  const text = lines.join('; ');
  return text === '' ? `exit code ${r.code}` : text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/** Masks credentials in URLs (`https://user:token@host` → `https://***@host`). */
export function redact(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, '$1***@');
}
