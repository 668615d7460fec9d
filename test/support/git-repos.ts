/**
 * Real git repositories for the records tests: a working clone with an initial commit and a
 * bare repository as its `origin`. Test-only.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      const hook = join(bare, 'hooks', 'pre-receive');
      await writeFile(hook, `#!/bin/sh\necho '${message}' >&2\nexit 1\n`);
      await chmod(hook, 0o755);
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
