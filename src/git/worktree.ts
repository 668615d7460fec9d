/**
 * What every feature that writes into a working tree needs: one writer per tree at a time,
 * branch names git cannot mistake for options, and committing one path alone, only when it
 * changed (so writing the same content twice makes no second commit).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { GitRunner } from './runner.js';

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `work` when every earlier `exclusive` call for the same working tree has settled, so
 * two writers in this process never interleave their commands in one tree. The tree is
 * named by its folder (resolved to an absolute path).
 *
 * @example
 * ```ts
 * const result = await exclusive('/srv/records', () => writeAndCommit());
 * ```
 */
export function exclusive<T>(tree: string, work: () => Promise<T>): Promise<T> {
  const key = resolve(tree);
  const run = (queues.get(key) ?? Promise.resolve()).then(work);
  const tail = run.then(() => undefined, () => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

/**
 * `path` (absolute, or relative to `tree`) as git names it inside the tree (`/` separators),
 * or null when it is the tree itself or outside it.
 *
 * @example
 * treePath('/srv/records', 'docs/a.md'); // 'docs/a.md'
 * treePath('/srv/records', '../a.md');   // null
 */
export function treePath(tree: string, path: string): string | null {
  const rel = relative(tree, resolve(tree, path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return rel.split(sep).join('/');
}

/**
 * Whether `name` is a branch name git accepts and cannot read as an option.
 *
 * @example
 * await isBranchName(git, 'main');    // true
 * await isBranchName(git, '--force'); // false
 */
export async function isBranchName(git: GitRunner, name: string): Promise<boolean> {
  if (name.startsWith('-')) return false;
  return (await git.run(['check-ref-format', '--branch', name])).code === 0;
}

/**
 * Stages `path` and commits it alone with `message` when it differs from the last commit;
 * anything else staged in the tree stays staged and out of the commit. Returns whether a
 * commit was made. Failures throw the runner's fault, e.g. `could not commit <what> in …`.
 *
 * @param path a path inside the tree, with `/` separators
 * @param what names the content in failure messages, e.g. `the record`
 * @example
 * const changed = await commitPath(git, 'docs/deployments/prod/d-1.md', 'deploy: web 1.4.2 to prod succeeded (d-1)', 'the record');
 */
export async function commitPath(git: GitRunner, path: string, message: string, what: string): Promise<boolean> {
  await git.must(['add', '--', path], `stage ${what}`);
  const diff = await git.run(['diff', '--cached', '--quiet', '--', path]);
  if (diff.code !== 0 && diff.code !== 1) throw git.failure(`compare ${what} with the last commit`, diff);
  const changed = diff.code === 1;
  // Committing the path alone leaves anything else someone staged in this tree alone.
  if (changed) await git.must(['commit', '--quiet', '-m', message, '--', path], `commit ${what}`);
  return changed;
}
