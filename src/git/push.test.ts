import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { commitFiles, git, makeRepos, requireGit, type Repos } from '../../test/support/git-repos.js';
import { pushWithRebase } from './push.js';
import { GitRunner } from './runner.js';

const hasGit = await requireGit('git push tests');

describe.skipIf(!hasGit)('pushWithRebase (real git)', () => {
  let repos: Repos;
  let sleeps: number[];
  let runner: GitRunner;

  beforeEach(async () => {
    repos = await makeRepos();
    sleeps = [];
    runner = new GitRunner({
      cwd: repos.work, author: { name: 'Gangway Bot', email: 'gangway@example.com' },
      fault: (message) => new GangwayError('internal', message),
    });
  });
  afterEach(async () => {
    await repos.remove();
  });

  const push = (retries: number) => pushWithRebase(runner, { remote: 'origin', branch: 'main', retries, backoffMs: 10, sleep: async (ms) => { sleeps.push(ms); } });

  it('pushes HEAD to the branch', async () => {
    const head = await commitFiles(repos.work, { 'a.txt': 'a\n' }, 'add a', false);

    expect(await push(2)).toEqual({ pushed: true });
    expect(await git(repos.bare, 'rev-parse', 'main')).toBe(head);
    expect(sleeps).toEqual([]);
  });

  it('gives up when the rebase onto the remote conflicts, leaving HEAD as it was', async () => {
    const other = await repos.clone('other');
    await commitFiles(other, { 'a.txt': 'theirs\n' }, 'theirs');
    const ours = await commitFiles(repos.work, { 'a.txt': 'ours\n' }, 'ours', false);

    const r = await push(1);

    expect(r).toEqual({
      pushed: false,
      error: 'git pull --rebase from origin failed: error: could not apply ' + ours.slice(0, 7) + '... ours; Could not apply ' + ours.slice(0, 7) + '... ours; Auto-merging a.txt; CONFLICT (add/add): Merge conflict in a.txt (after 2 attempts)',
    });
    expect(sleeps).toEqual([10]);
    expect(await git(repos.work, 'rev-parse', 'HEAD')).toBe(ours);
    expect(await git(repos.work, 'status', '--porcelain')).toBe('');
  });
});
