/**
 * Runs the real `git` binary for every feature that commits to a repository (deployment
 * records, GitOps targets). Commands are argv, never a shell, so no user string is ever read
 * by one. The environment is built once: a caller's own git variables cannot point commands
 * at another repository, the author and committer come from Gangway's config (the machine
 * needs no global identity), git never waits for a person, and its messages stay in English
 * because some of them are matched. Credentials in URLs are masked (`redact`) in every
 * message this module builds.
 */
import { execFile } from 'node:child_process';

/** Who commits: both author and committer. */
export interface GitIdentity {
  name: string;
  email: string;
}

/** What one git command came to; `code` is -1 when it was killed or timed out. */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Builds the caller's typed fault, so each feature reports git trouble with its own error class. */
export type GitFault = (message: string, hint?: string, options?: { cause?: unknown }) => Error;

export interface GitRunnerOptions {
  /** The working tree commands run in. */
  cwd: string;
  author: GitIdentity;
  /** Makes the faults this runner throws: git missing, a required command failing. */
  fault: GitFault;
  /** Names the repository in failure messages; default `cwd`. Redacted when used. */
  label?: string;
  /** Limit for one command; default 120 s (a push over a slow network). */
  timeoutMs?: number;
  /** More environment for git, e.g. `GIT_SSH_COMMAND` for a deploy key; cannot override the fixed entries. */
  env?: Record<string, string>;
}

/** Variables that would make git work on another repository than `cwd` (set inside a git hook, for one). */
const REPOSITORY_VARIABLES = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_PREFIX'];

/**
 * One working tree's git, with a fixed environment.
 *
 * @example
 * ```ts
 * const git = new GitRunner({ cwd: '/srv/records', author: { name: 'Gangway', email: 'gangway@example.com' },
 *   fault: (message, hint, options) => new GangwayError('internal', message, hint, undefined, options) });
 * const head = (await git.must(['rev-parse', 'HEAD'], 'read HEAD')).stdout.trim();
 * const r = await git.run(['diff', '--quiet']); // r.code 1: the tree has changes
 * ```
 */
export class GitRunner {
  readonly cwd: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly fault: GitFault;
  private readonly label: string;
  private readonly timeoutMs: number;

  constructor(opts: GitRunnerOptions) {
    this.cwd = opts.cwd;
    this.fault = opts.fault;
    this.label = opts.label ?? opts.cwd;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    for (const k of REPOSITORY_VARIABLES) delete env[k];
    Object.assign(env, {
      GIT_AUTHOR_NAME: opts.author.name,
      GIT_AUTHOR_EMAIL: opts.author.email,
      GIT_COMMITTER_NAME: opts.author.name,
      GIT_COMMITTER_EMAIL: opts.author.email,
      // Never wait for a person: no credential prompt, no editor during a rebase or a revert.
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
   * Runs `git <args>` in `cwd` (or another folder, e.g. the parent of a clone to make).
   * Resolves with the outcome whatever git's exit code; rejects only when git is not installed.
   */
  run(args: readonly string[], cwd: string = this.cwd): Promise<GitResult> {
    return new Promise((done, fail) => {
      execFile('git', args, { cwd, env: this.env, timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          fail(this.fault('git is not installed', 'install git (Debian package git)', { cause: err }));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
      });
    });
  }

  /** Runs `git <args>` and throws `could not <what> in <label>: <git's words>` unless it exits 0. */
  async must(args: readonly string[], what: string): Promise<GitResult> {
    const r = await this.run(args);
    if (r.code !== 0) throw this.failure(what, r);
    return r;
  }

  /** The fault for a command that failed: what was attempted, where, and git's words, redacted. */
  failure(what: string, r: GitResult): Error {
    return this.fault(redact(`could not ${what} in ${this.label}: ${gitMessage(r)}`));
  }
}

/**
 * Git's own words, without its hints, on one line (at most 1000 characters). Not redacted:
 * callers redact the whole message they build around it.
 *
 * @example
 * gitMessage({ code: 1, stdout: '', stderr: 'error: failed to push\nhint: pull first\n' }); // 'error: failed to push'
 */
export function gitMessage(r: GitResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:'));
  const text = lines.join('; ');
  return text === '' ? `exit code ${r.code}` : text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/**
 * Masks credentials in URLs (`https://user:token@host` → `https://***@host`).
 *
 * @example
 * redact("unable to access 'https://bot:s3cr3t@git.example.com/ops.git/'"); // "unable to access 'https://***@git.example.com/ops.git/'"
 */
export function redact(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, '$1***@');
}
