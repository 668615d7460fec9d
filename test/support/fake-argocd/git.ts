/**
 * What the FAKE Argo CD's repo server does with Git, with the real `git` CLI (argv only,
 * never a shell) on a bare repository on disk: resolve a revision as upstream's
 * `git.Client.LsRemote` does (HEAD, a branch or tag by short or full name, a full or
 * truncated SHA) and extract the tree of a commit into a folder (`git archive` piped into
 * `tar -x`) for rendering. HEAD and branches are read from the repository's ref files when
 * that answers the same as `git ls-remote` would, which spares a process per refresh.
 *
 * Simplified: no fetch/checkout cache, no credentials, no submodules, no LFS.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ENV: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete ENV[k];

/** A git command failed; `message` is what Argo CD's repo server would report. */
export class GitError extends Error {
  override name = 'GitError';
}

function git(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { env: ENV, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new GitError((stderr || err.message).trim()));
      else resolve(stdout);
    });
  });
}

const FULL_SHA = /^[0-9a-f]{40}$/i;
const SHORT_SHA = /^[0-9a-f]{7,39}$/i;

/** upstream `git.IsCommitSHA`. */
export function isCommitSha(s: string): boolean {
  return FULL_SHA.test(s);
}

/** The refs of a repository (`git ls-remote`), peeled tags resolved to their commit. */
export async function lsRemote(repo: string): Promise<Map<string, string>> {
  let out: string;
  try {
    out = await git(['ls-remote', '--', repo]);
  } catch {
    throw new GitError('failed to list refs: repository not found');
  }
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, ref] = line.split('\t');
    if (!sha || !ref) continue;
    if (ref.endsWith('^{}')) refs.set(ref.slice(0, -3), sha);
    else if (!refs.has(ref)) refs.set(ref, sha);
  }
  return refs;
}

/**
 * HEAD or a branch read straight from the bare repository's files (loose ref, then
 * packed-refs) — what `git ls-remote` would answer for them, without starting a process.
 * Undefined when the answer needs git (tags, which may need peeling; anything unusual).
 */
function readBranch(repo: string, rev: string): string | undefined {
  try {
    let ref = rev === 'HEAD' ? '' : rev.startsWith('refs/heads/') ? rev : `refs/heads/${rev}`;
    if (ref === '') {
      const head = readFileSync(join(repo, 'HEAD'), 'utf8').trim();
      if (FULL_SHA.test(head)) return head.toLowerCase();
      if (!head.startsWith('ref: refs/heads/')) return undefined;
      ref = head.slice('ref: '.length);
    }
    if (ref.includes('..') || !existsSync(join(repo, 'objects'))) return undefined;
    const loose = join(repo, ref);
    if (existsSync(loose)) {
      const sha = readFileSync(loose, 'utf8').trim();
      return FULL_SHA.test(sha) ? sha.toLowerCase() : undefined;
    }
    const packed = join(repo, 'packed-refs');
    if (!existsSync(packed)) return undefined;
    for (const line of readFileSync(packed, 'utf8').split('\n')) {
      const [sha, name] = line.split(' ');
      if (name === ref && FULL_SHA.test(sha)) return sha.toLowerCase();
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves `revision` (default HEAD) to a commit SHA as upstream's LsRemote does; a full or
 * truncated SHA is returned as given. Throws `Unable to resolve '<rev>' to a commit SHA`.
 */
export async function resolveRevision(repo: string, revision: string): Promise<string> {
  const rev = revision === '' ? 'HEAD' : revision;
  if (isCommitSha(rev)) return rev.toLowerCase();
  const direct = readBranch(repo, rev);
  if (direct) return direct;
  const refs = await lsRemote(repo);
  for (const [ref, sha] of refs) {
    const short = ref.replace(/^refs\/(heads|tags|remotes)\//, '');
    if (ref === rev || short === rev) return sha;
  }
  if (SHORT_SHA.test(rev)) return rev.toLowerCase();
  throw new GitError(`Unable to resolve '${rev}' to a commit SHA`);
}

/** Whether `sha` names a commit of the repository; resolves a truncated SHA to the full one. */
export async function commitOf(repo: string, sha: string): Promise<string> {
  try {
    return (await git(['--git-dir', repo, 'rev-parse', '--verify', '--quiet', `${sha}^{commit}`])).trim();
  } catch {
    throw new GitError(`unable to resolve git revision '${sha}': reference is not a tree: ${sha}`);
  }
}

/** Resolves once with how a child process ended (spawn failure or exit code). */
function ended(child: ReturnType<typeof spawn>): Promise<{ code: number | null; error?: Error }> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (v: { code: number | null; error?: Error }): void => { if (!settled) { settled = true; resolve(v); } };
    child.on('error', (error) => settle({ code: null, error }));
    child.on('close', (code) => settle({ code }));
  });
}

/** Writes the tree of commit `sha` into `dir` (`git archive | tar -x`). */
export async function extractTree(repo: string, sha: string, dir: string): Promise<void> {
  const archive = spawn('git', ['--git-dir', repo, 'archive', '--format=tar', sha], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-x', '--no-same-owner', '-f', '-', '-C', dir], { env: ENV, stdio: ['pipe', 'ignore', 'pipe'] });
  let gitErr = '';
  let tarErr = '';
  archive.stderr?.on('data', (c: Buffer) => { gitErr += c.toString('utf8'); });
  tar.stderr?.on('data', (c: Buffer) => { tarErr += c.toString('utf8'); });
  tar.stdin?.on('error', () => { /* tar ended early: its exit code says why */ });
  if (archive.stdout && tar.stdin) archive.stdout.pipe(tar.stdin);
  const [a, t] = await Promise.all([ended(archive), ended(tar)]);
  if (a.error || a.code !== 0) throw new GitError(a.error?.message ?? (gitErr.trim() || `git archive exited with ${a.code}`));
  if (t.error || t.code !== 0) throw new GitError(t.error?.message ?? (tarErr.trim() || `tar exited with ${t.code}`));
}
