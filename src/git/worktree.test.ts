import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { git, makeRepos, requireGit, type Repos } from '../../test/support/git-repos.js';
import { GitRunner } from './runner.js';
import { commitPath, exclusive, isBranchName, treePath } from './worktree.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const hasGit = await requireGit('git working tree tests');

describe('exclusive', () => {
  it('runs work on one tree one after another, even after a failure, and other trees beside it', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });

    const first = exclusive('/srv/a', async () => { order.push('a1 start'); await gate; order.push('a1 end'); throw new Error('a1 failed'); });
    const second = exclusive('/srv/a/', async () => { order.push('a2'); return 'a2'; });
    const other = exclusive('/srv/b', async () => { order.push('b'); return 'b'; });

    expect(await other).toBe('b');
    expect(order).toEqual(['a1 start', 'b']);
    release();
    await expect(first).rejects.toThrow('a1 failed');
    expect(await second).toBe('a2');
    expect(order).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });
});

describe('treePath', () => {
  it('names a path inside the tree with slashes, and nothing outside it', () => {
    expect(treePath('/srv/records', 'docs/a.md')).toBe('docs/a.md');
    expect(treePath('/srv/records', '/srv/records/docs/../b.md')).toBe('b.md');
    expect(treePath('/srv/records', '../a.md')).toBe(null);
    expect(treePath('/srv/records', '/etc/passwd')).toBe(null);
    expect(treePath('/srv/records', '.')).toBe(null);
  });
});

describe.skipIf(!hasGit)('isBranchName and commitPath (real git)', () => {
  let repos: Repos;
  let runner: GitRunner;
  beforeEach(async () => {
    repos = await makeRepos();
    runner = new GitRunner({ cwd: repos.work, author: { name: 'Gangway Bot', email: 'gangway@example.com' }, fault: (m) => new GangwayError('internal', m) });
  });
  afterEach(async () => {
    await repos.remove();
  });

  it('accepts branch names git accepts and refuses options and malformed names', async () => {
    expect(await isBranchName(runner, 'main')).toBe(true);
    expect(await isBranchName(runner, 'deploy/staging')).toBe(true);
    expect(await isBranchName(runner, '--force')).toBe(false);
    expect(await isBranchName(runner, 'a..b')).toBe(false);
  });

  it('commits the path alone, once', async () => {
    await writeFile(join(repos.work, 'a.txt'), 'a\n');
    await writeFile(join(repos.work, 'b.txt'), 'b\n');
    await git(repos.work, 'add', 'b.txt');

    expect(await commitPath(runner, 'a.txt', 'add a', 'a.txt')).toBe(true);
    expect(await commitPath(runner, 'a.txt', 'add a', 'a.txt')).toBe(false);

    expect(await git(repos.work, 'log', '--format=%s|%an', '-2')).toBe('add a|Gangway Bot\ninitial|Test Person');
    expect(await git(repos.work, 'show', '--format=', '--name-only', 'HEAD')).toBe('a.txt');
    expect(await git(repos.work, 'status', '--porcelain')).toBe('A  b.txt');
  });
});
