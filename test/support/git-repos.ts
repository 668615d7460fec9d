/**
 * Real git repositories for the records and GitOps tests: a working clone with an initial
 * commit and a bare repository as its `origin`, hooks to make a remote refuse pushes or to
 * act at a chosen moment, and committing files in one call. Test-only.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { requireOrSkip } from './require.js';

const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test Person', GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test Person', GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C',
};
for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete ENV[k];

/** Runs git in `cwd` and resolves with its trimmed stdout; rejects with stderr on failure. */
export function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile('git', args, { cwd, env: ENV, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) fail(new Error(`git ${args.join(' ')} in ${cwd}: ${stderr || err.message}`));
      else done(stdout.trim());
    });
  });
}

/** Whether git runs here; skips (or, under GANGWAY_REQUIRE_ALL=1, fails) the suite otherwise. */
export async function requireGit(what: string): Promise<boolean> {
  const ok = await git(tmpdir(), '--version').then(() => true, () => false);
  return requireOrSkip(what, 'the Debian package git', ok);
}

export interface Repos {
  root: string;
  /** The working clone (branch main, one commit, origin → bare). */
  work: string;
  bare: string;
  /** Another clone of the bare repository, for pushing "meanwhile". */
  clone(name: string): Promise<string>;
  /** Makes the bare repository refuse every push from now on. */
  rejectPushes(message: string): Promise<void>;
  remove(): Promise<void>;
}

export async function makeRepos(): Promise<Repos> {
  const root = await mkdtemp(join(tmpdir(), 'gangway-records-'));
  const bare = join(root, 'remote.git');
  const work = join(root, 'work');
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  await git(root, 'init', '--quiet', '--initial-branch=main', work);
  await writeFile(join(work, 'README.md'), '# deployment records\n');
  await git(work, 'add', 'README.md');
  await git(work, 'commit', '--quiet', '-m', 'initial');
  await git(work, 'remote', 'add', 'origin', bare);
  await git(work, 'push', '--quiet', 'origin', 'main');
  await git(work, 'branch', '--quiet', '--set-upstream-to=origin/main');
  return {
    root, work, bare,
    async clone(name) {
      const dir = join(root, name);
      await git(root, 'clone', '--quiet', bare, dir);
      return dir;
    },
    async rejectPushes(message) {
      await installHook(bare, 'pre-receive', `echo '${message}' >&2\nexit 1`);
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Installs a hook (`pre-receive`, `post-commit`, …) in the repository at `dir` (bare or
 * working tree): `script` runs under `/bin/sh`, after git's own variables are unset so the
 * git commands it runs act on the folders they name.
 */
export async function installHook(dir: string, name: string, script: string): Promise<void> {
  const hooks = join(await git(dir, 'rev-parse', '--absolute-git-dir'), 'hooks');
  await mkdir(hooks, { recursive: true });
  const hook = join(hooks, name);
  await writeFile(hook, `#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX\n${script}\n`);
  await chmod(hook, 0o755);
}

/**
 * Writes `files` (path → content) in the working tree `dir`, commits them with `message` as
 * the test person and, unless `push` is false, pushes the branch to `origin`. Resolves with
 * the new commit's sha.
 */
export async function commitFiles(dir: string, files: Record<string, string>, message: string, push = true): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
    await git(dir, 'add', '--', path);
  }
  await git(dir, 'commit', '--quiet', '-m', message);
  if (push) await git(dir, 'push', '--quiet', 'origin', 'HEAD');
  return git(dir, 'rev-parse', 'HEAD');
}

/**
 * A values file of a config repository as people write them, for GitOps tests: comments,
 * blank lines, odd spacing, a flow map, a list and one CRLF line; `image.tag` is `"1.4.1"`.
 */
export const IMAGE_TAGS_YAML = [
  '# Image tags for staging.\r',
  '# Written by deployments; edit by hand only in an emergency.',
  '',
  'image:',
  '  repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web   # ECR',
  '  tag: "1.4.1"  # current release',
  '',
  '  pullPolicy: IfNotPresent',
  'replicas:   3',
  'resources: { limits: { cpu: 500m, memory: 512Mi } }',
  'sidecars:',
  "  - name: 'proxy'",
  '    tag: 2.0.0',
  '',
].join('\n');
