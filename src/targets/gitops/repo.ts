/**
 * The Git half of a GitOps target: a deployment is a commit that changes one value (the image
 * tag) in a values file of a config repository, pushed to the branch a GitOps controller
 * watches; a rollback is a revert of that commit, or, when the revert conflicts, a commit that
 * writes the stable release's value.
 *
 * Gangway keeps its own clone under the state folder and owns it: before every change it is
 * fetched and reset to the remote branch, so an interrupted change or a stray edit there is
 * simply discarded. The remote is always addressed by its URL (no remote is configured in the
 * clone), and every message that names it masks the credentials in it. Unlike deployment
 * records, a change that cannot be pushed throws: a deployment cannot go on without its
 * commit on the remote.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pushWithRebase } from '../../git/push.js';
import { GitRunner, gitMessage, redact, type GitIdentity } from '../../git/runner.js';
import { commitPath, exclusive, isBranchName, treePath } from '../../git/worktree.js';
import { GitOpsError } from './errors.js';
import { readValue, setValue } from './values-file.js';

export interface GitOpsRepoOptions {
  /** The config repository: a URL (`https://…`, `ssh://…`, `git@host:path`) or a path (made absolute against the working directory). */
  repo: string;
  /** The branch the GitOps controller watches. */
  branch: string;
  /** Gangway's state folder; the clone lives in `<stateDir>/gitops/<hash of repo and branch>`. */
  stateDir: string;
  /** Author and committer of every commit. */
  author: GitIdentity;
  /** Push retries after the first attempt; default 3. */
  pushRetries?: number;
  /** First wait between push attempts, doubled each time up to 30 s; default 1000. */
  backoffMs?: number;
  /** Waits between push attempts; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
  /** Limit for one git command; default 120 s. */
  commandTimeoutMs?: number;
  /** More environment for git, e.g. `GIT_SSH_COMMAND` for a deploy key. */
  env?: Record<string, string>;
}

/** One value to write: `file` is relative to the repository root, placeholders already filled. */
export interface KeyChange {
  file: string;
  /** Dotted path to the value, e.g. `image.tag`; it must already exist in the file. */
  key: string;
  value: string;
  /** The commit message; see `changeMessage`. */
  message: string;
}

/** What a change came to. */
export interface ChangeResult {
  /** The remote branch's commit that holds the change (the remote's head when nothing changed). */
  commit: string;
  /** Whether this call made a commit (false: the value was already there). */
  changed: boolean;
  /** Whether this call pushed; a push that fails throws, so `changed` implies `pushed`. */
  pushed: boolean;
}

export interface RevertRequest {
  /** Gangway's commit to revert (a full or abbreviated sha). */
  commit: string;
  message: string;
  /** The stable value, written when the revert cannot be used. */
  fallback: Omit<KeyChange, 'message'>;
}

export interface RevertResult extends ChangeResult {
  /** `revert`: a revert commit (or none, the revert being already there); `write`: the fallback value was written. */
  method: 'revert' | 'write';
  /** With `write`: why the revert was not used (a conflict, a commit not on the branch). */
  revertFailure?: string;
}

/** One commit of the branch's history of a file, as {@link GitOpsRepo.log} reads it. */
export interface LogEntry {
  commit: string;
  parents: string[];
  /** Committer time, epoch ms. */
  time: number;
  /** `Name <email>` of the author. */
  author: string;
  subject: string;
  /** The commit's trailers (`Deployment`, `Actor`, …); the first of each key. */
  trailers: Record<string, string>;
}

/** Where the remote branch is kept in the clone after each fetch. */
const TRACKING = 'refs/remotes/origin/';

/**
 * A config repository as Gangway changes it. Calls are serialised per clone, across
 * instances; each one fetches first, so it acts on the remote branch as it is now.
 *
 * @example
 * ```ts
 * const repo = new GitOpsRepo({ repo: 'https://github.com/acme/deploy-config.git', branch: 'main',
 *   stateDir: config.stateDir, author: { name: 'Gangway', email: 'gangway@acme.example' } });
 * const file = 'helm/environments/staging-env/image-tags.yaml';
 * const { commit } = await repo.setKey({ file, key: 'image.tag', value: '1.4.2',
 *   message: changeMessage({ service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice' }) });
 * // on rollback:
 * await repo.revert({ commit, message: '…', fallback: { file, key: 'image.tag', value: '1.4.1' } });
 * ```
 */
export class GitOpsRepo {
  /** The clone's folder. */
  readonly dir: string;
  private readonly remote: string;
  /** The remote as messages show it, credentials masked. */
  private readonly shown: string;
  private readonly branch: string;
  private readonly git: GitRunner;
  private readonly push: { retries: number; backoffMs?: number; sleep?: (ms: number) => Promise<void> };

  constructor(opts: GitOpsRepoOptions) {
    if (opts.repo.startsWith('-')) throw new GitOpsError('invalid_argument', `gitops repository "${redact(opts.repo)}" is not a URL or a path`);
    // A colon before any slash: a URL (`https://…`) or scp-like (`git@host:path`); anything else is a path.
    this.remote = /^[^/]*:/.test(opts.repo) ? opts.repo : resolve(opts.repo);
    this.shown = redact(this.remote);
    this.branch = opts.branch;
    const id = createHash('sha256').update(`${this.remote}\n${opts.branch}`).digest('hex').slice(0, 16);
    this.dir = join(opts.stateDir, 'gitops', id);
    this.git = new GitRunner({
      cwd: this.dir, author: opts.author, timeoutMs: opts.commandTimeoutMs, env: opts.env,
      fault: (message, hint, options) => new GitOpsError('internal', message, hint, { repo: this.shown }, options),
    });
    this.push = { retries: opts.pushRetries ?? 3, backoffMs: opts.backoffMs, sleep: opts.sleep };
  }

  /** The remote branch's current commit. Reads only. */
  head(): Promise<string> {
    return exclusive(this.dir, async () => {
      await this.fetch();
      return this.trackingHead();
    });
  }

  /**
   * Sets `key` in `file` to `value` on the remote branch: one commit, pushed (rebased onto
   * the remote and pushed again when someone pushed meanwhile). Idempotent: when the remote
   * branch already holds the value, nothing is committed and its head is returned.
   * Throws `GitOpsError`: `invalid_argument` for a missing file or key, `unreachable` when the
   * repository cannot be fetched or pushed to, `conflict` when the remote refuses the push.
   */
  setKey(change: KeyChange): Promise<ChangeResult> {
    return exclusive(this.dir, async () => {
      await this.sync();
      return this.writeKey(change);
    });
  }

  /**
   * Sets several keys of one file in one commit, as `setKey` sets one (the keys must exist;
   * only their values' characters change). Idempotent: when the remote branch holds every value
   * already, nothing is committed and its head is returned. A value marked `number` (a count, a
   * weight) replacing a plain value is written as a YAML number. Throws as `setKey`.
   *
   * @example await repo.setKeys('helm/environments/dev-env/values.yaml', [{ key: 'canary.tag', value: '1.2.0' }, { key: 'canary.replicas', value: '1' }], message)
   */
  setKeys(file: string, values: Array<{ key: string; value: string; number?: boolean }>, message: string): Promise<ChangeResult> {
    return exclusive(this.dir, async () => {
      await this.sync();
      return this.writeKeys(file, values, message);
    });
  }

  /**
   * Reverts `commit` with a new commit on the remote branch's head. When the revert cannot be
   * used — it conflicts with later changes, the commit is not on the branch, or the file would
   * not end up holding `fallback.value` — the fallback value is written instead
   * (`method: 'write'`), so afterwards the branch holds the stable value either way.
   * Idempotent: a revert already on the branch makes no new commit. Throws as `setKey`.
   */
  revert(req: RevertRequest): Promise<RevertResult> {
    return exclusive(this.dir, async () => {
      const commit = checkSha(req.commit, this.shown);
      await this.sync();
      const revertFailure = await this.applyRevert(commit, req.fallback);
      if (revertFailure === null) {
        const staged = await this.git.run(['diff', '--cached', '--quiet']);
        if (staged.code === 0) return { commit: await this.trackingHead(), changed: false, pushed: false, method: 'revert' };
        if (staged.code !== 1) throw this.git.failure(`compare the revert of ${commit} with the last commit`, staged);
        await this.git.must(['commit', '--quiet', '-m', req.message], `commit the revert of ${commit}`);
        return { ...(await this.publish()), method: 'revert' };
      }
      await this.resetToTracking();
      return { ...(await this.writeKey({ ...req.fallback, message: req.message })), method: 'write', revertFailure };
    });
  }

  /**
   * The content of `file` at `commit`, or null when the file is not there; for drift checks
   * (read the value with `readValue`). Reads only; fetches when the commit is not known yet.
   * Throws `GitOpsError` (not_found) for a commit the remote branch does not have.
   */
  fileAt(commit: string, file: string): Promise<string | null> {
    return exclusive(this.dir, async () => {
      const sha = checkSha(commit, this.shown);
      const path = this.pathOf(file);
      await this.ensureClone();
      if (!(await this.hasCommit(sha))) {
        await this.fetch();
        if (!(await this.hasCommit(sha))) {
          throw new GitOpsError('not_found', `commit ${sha} is not in branch ${this.branch} of ${this.shown}`, undefined, { repo: this.shown, file });
        }
      }
      const type = await this.git.run(['cat-file', '-t', `${sha}:${path}`]);
      if (type.code !== 0) return null;
      if (type.stdout.trim() !== 'blob') {
        throw new GitOpsError('invalid_argument', `${file} is a folder at ${sha} in ${this.shown}, not a file`, undefined, { repo: this.shown, file });
      }
      return (await this.git.must(['cat-file', 'blob', `${sha}:${path}`], `read ${file} at ${sha}`)).stdout;
    });
  }

  /**
   * The newest commits of the remote branch that touched `file`, newest first, at most
   * `limit`, with their trailers (how Gangway finds its own changes again). Reads only; fetches.
   *
   * @example
   * (await repo.log('helm/environments/staging-env/image-tags.yaml', 50))[0]
   * // { commit: '3f2a…', parents: ['9c1d…'], time: 1733390000000, author: 'Gangway <gangway@example.com>', subject: 'deploy web 1.4.2 to staging', trailers: { Deployment: 'd-7', … } }
   */
  log(file: string, limit: number): Promise<LogEntry[]> {
    return exclusive(this.dir, async () => {
      const path = this.pathOf(file);
      await this.fetch();
      const r = await this.git.must(['log', `-n${Math.max(1, Math.floor(limit))}`, '--format=%H%x1f%P%x1f%ct%x1f%an <%ae>%x1f%s%x1f%(trailers:only,unfold)%x1e',
        `${TRACKING}${this.branch}`, '--', path], `read the history of ${file}`);
      return r.stdout.split('\x1e').map((rec) => rec.replace(/^\n+/, '')).filter((rec) => rec !== '').map((rec) => {
        const [commit, parents, ct, author, subject, trailerText] = rec.split('\x1f');
        const trailers: Record<string, string> = {};
        for (const line of (trailerText ?? '').split('\n')) {
          const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line.trim());
          if (m && !(m[1] in trailers)) trailers[m[1]] = m[2];
        }
        return { commit, parents: parents === '' ? [] : parents.split(' '), time: Number(ct) * 1000, author, subject, trailers };
      });
    });
  }

  /** When `commit` was committed (epoch ms); fetches when it is not known yet. Throws `not_found` for a commit the branch lacks. */
  commitTime(commit: string): Promise<number> {
    return exclusive(this.dir, async () => {
      const sha = await this.known(commit);
      return Number((await this.git.must(['show', '-s', '--format=%ct', sha], `read the time of ${sha}`)).stdout.trim()) * 1000;
    });
  }

  /** Whether `ancestor` is `commit` or one of its ancestors; fetches when either is not known yet. */
  isAncestor(ancestor: string, commit: string): Promise<boolean> {
    return exclusive(this.dir, async () => {
      const [a, b] = [await this.known(ancestor), await this.known(commit)];
      const r = await this.git.run(['merge-base', '--is-ancestor', a, b]);
      if (r.code !== 0 && r.code !== 1) throw this.git.failure(`compare ${a} with ${b}`, r);
      return r.code === 0;
    });
  }

  /** The commit as a full sha, fetching once when the clone lacks it. */
  private async known(commit: string): Promise<string> {
    const sha = checkSha(commit, this.shown);
    await this.ensureClone();
    if (!(await this.hasCommit(sha))) {
      await this.fetch();
      if (!(await this.hasCommit(sha))) throw new GitOpsError('not_found', `commit ${sha} is not in branch ${this.branch} of ${this.shown}`, undefined, { repo: this.shown });
    }
    return (await this.git.must(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`], `read ${sha}`)).stdout.trim();
  }

  private writeKey(change: KeyChange): Promise<ChangeResult> {
    return this.writeKeys(change.file, [{ key: change.key, value: change.value }], change.message);
  }

  private async writeKeys(file: string, values: Array<{ key: string; value: string; number?: boolean }>, message: string): Promise<ChangeResult> {
    const path = this.pathOf(file);
    if (message.trim() === '') throw new GitOpsError('invalid_argument', `the commit message for ${values.map((v) => v.key).join(', ')} in ${file} is empty`);
    const abs = join(this.dir, path);
    let text = await this.readTracked(file, path, abs);
    let changed = false;
    for (const v of values) {
      const edit = setValue(text, file, v.key, v.value, { number: v.number });
      text = edit.text;
      changed ||= edit.changed;
    }
    if (!changed) return { commit: await this.trackingHead(), changed: false, pushed: false };
    await writeFile(abs, text);
    await commitPath(this.git, path, message, path);
    return this.publish();
  }

  /** Pushes HEAD; a push that finally fails throws, the commit is dropped by the next sync. */
  private async publish(): Promise<ChangeResult> {
    const r = await pushWithRebase(this.git, { remote: this.remote, branch: this.branch, ...this.push });
    if (!r.pushed) {
      const refused = /\[(remote )?rejected\]|pull --rebase/.test(r.error);
      throw new GitOpsError(refused ? 'conflict' : 'unreachable', r.error,
        `nothing was changed on branch ${this.branch}; check that ${this.shown} is reachable and accepts pushes to it from this machine`,
        { repo: this.shown });
    }
    const head = (await this.git.must(['rev-parse', 'HEAD'], 'read the pushed commit')).stdout.trim();
    return { commit: head, changed: true, pushed: true };
  }

  /** Stages the revert of `commit`; returns null when it is staged and leaves the stable value, else why not (the tree may then be dirty). */
  private async applyRevert(commit: string, fallback: RevertRequest['fallback']): Promise<string | null> {
    const onBranch = await this.git.run(['merge-base', '--is-ancestor', commit, 'HEAD']);
    if (onBranch.code === 1) return `${commit} is not on branch ${this.branch}`;
    if (onBranch.code !== 0) return `${commit} is not a commit of ${this.shown}`;
    const r = await this.git.run(['revert', '--no-commit', commit]);
    if (r.code !== 0) {
      await this.git.run(['revert', '--abort']);
      return redact(`git revert ${commit} failed: ${gitMessage(r)}`);
    }
    const path = this.pathOf(fallback.file);
    const text = await readFile(join(this.dir, path), 'utf8').catch(() => null);
    let value: string | null;
    try {
      value = text === null ? null : readValue(text, fallback.file, fallback.key);
    } catch {
      value = null;
    }
    if (value !== fallback.value) {
      return `reverting ${commit} leaves ${fallback.key} in ${fallback.file} at ${value === null ? 'no value' : JSON.stringify(value)}, not ${JSON.stringify(fallback.value)}`;
    }
    return null;
  }

  /** Fetches, then makes the clone the remote branch exactly: no local commits, edits or half-done operations. */
  private async sync(): Promise<void> {
    await this.fetch();
    await this.resetToTracking();
  }

  private async resetToTracking(): Promise<void> {
    // An operation interrupted by a crash would block the next rebase or revert.
    if (await exists(join(this.dir, '.git', 'rebase-merge')) || await exists(join(this.dir, '.git', 'rebase-apply'))) {
      await this.git.run(['rebase', '--quit']);
    }
    if (await exists(join(this.dir, '.git', 'sequencer'))) await this.git.run(['revert', '--quit']);
    await this.git.must(['checkout', '--quiet', '--force', '-B', this.branch, `${TRACKING}${this.branch}`], `check out branch ${this.branch}`);
    await this.git.must(['reset', '--quiet', '--hard'], 'reset the clone');
    await this.git.must(['clean', '-ffdxq'], 'clean the clone');
  }

  private async fetch(): Promise<void> {
    await this.ensureClone();
    const r = await this.git.run(['fetch', '--quiet', '--no-tags', this.remote, `+refs/heads/${this.branch}:${TRACKING}${this.branch}`]);
    if (r.code !== 0) {
      throw new GitOpsError('unreachable', redact(`could not fetch branch ${this.branch} of ${this.remote}: ${gitMessage(r)}`),
        `check that the repository is reachable from this machine and has branch ${this.branch}`, { repo: this.shown });
    }
  }

  /** Makes the clone on first use: an empty repository that the first fetch fills. */
  private async ensureClone(): Promise<void> {
    if (await exists(join(this.dir, '.git', 'HEAD'))) return;
    await mkdir(this.dir, { recursive: true });
    if (!(await isBranchName(this.git, this.branch))) {
      throw new GitOpsError('invalid_argument', `gitops branch "${this.branch}" is not a valid branch name`, undefined, { repo: this.shown });
    }
    await this.git.must(['init', '--quiet'], 'create the clone');
  }

  private async trackingHead(): Promise<string> {
    return (await this.git.must(['rev-parse', '--verify', '--quiet', `${TRACKING}${this.branch}^{commit}`], `read branch ${this.branch}`)).stdout.trim();
  }

  private async hasCommit(sha: string): Promise<boolean> {
    return (await this.git.run(['cat-file', '-e', `${sha}^{commit}`])).code === 0;
  }

  /** The file's path in the repository; refuses paths outside it and Git's own folder. */
  private pathOf(file: string): string {
    const path = treePath(this.dir, file);
    if (path === null || path === '.git' || path.startsWith('.git/')) {
      throw new GitOpsError('invalid_argument', `values file "${file}" is outside the repository ${this.shown}`, 'give a path relative to the repository root', { repo: this.shown, file });
    }
    return path;
  }

  /** The file's text, refusing a missing file and one reached through a symbolic link (writing would leave the repository). */
  private async readTracked(file: string, path: string, abs: string): Promise<string> {
    const missing = () => new GitOpsError('invalid_argument', `values file ${file} does not exist on branch ${this.branch} of ${this.shown}`,
      'check the file path (its {environment} and {service} placeholders) or add the file to the branch', { repo: this.shown, file });
    const real = await realpath(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw missing();
      throw err;
    });
    if (real !== join(await realpath(this.dir), path)) {
      throw new GitOpsError('invalid_argument', `values file ${file} in ${this.shown} is a symbolic link or inside one; Gangway edits regular files only`, undefined, { repo: this.shown, file });
    }
    if (!(await stat(real)).isFile()) throw missing();
    return readFile(real, 'utf8');
  }
}

function checkSha(commit: string, repo: string): string {
  if (!/^[0-9a-f]{7,64}$/i.test(commit)) throw new GitOpsError('invalid_argument', `"${redact(commit)}" is not a commit sha`, undefined, { repo });
  return commit.toLowerCase();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
