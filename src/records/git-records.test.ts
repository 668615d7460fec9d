import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordsConfig } from '../config/types.js';
import { GitRecords, GitRecordsError, redact } from './git-records.js';
import { git, makeRepos, requireGit, type Repos } from '../../test/support/git-repos.js';
import type { RenderedRecord } from './record.js';

const hasGit = await requireGit('Git records tests');

const RECORD: RenderedRecord = {
  path: 'docs/deployments/prod/2025-03-04-web-1.4.2-d-1.md',
  content: '---\nservice: web\n---\n\n# web 1.4.2 to prod: succeeded\n',
  message: 'deploy: web 1.4.2 to prod succeeded (d-1)',
  deploymentId: 'd-1',
};

describe.skipIf(!hasGit)('GitRecords (real git)', () => {
  let repos: Repos;
  let sleeps: number[];

  beforeEach(async () => {
    repos = await makeRepos();
    sleeps = [];
  });
  afterEach(async () => {
    await repos.remove();
  });

  function writer(over: Partial<RecordsConfig> = {}): GitRecords {
    const config: RecordsConfig = {
      repo: repos.work, path: 'docs/deployments/{environment}', remote: 'origin', branch: 'main',
      author: { name: 'Gangway Bot', email: 'gangway@example.com' }, pushRetries: 2, ...over,
    };
    return new GitRecords({ config, backoffMs: 10, sleep: async (ms) => { sleeps.push(ms); } });
  }

  it('commits the record as the configured author and pushes it to the remote', async () => {
    const r = await writer().write(RECORD);

    const head = await git(repos.bare, 'rev-parse', 'main');
    expect(r).toEqual({ path: RECORD.path, committed: head, changed: true, pushed: true });
    expect(await git(repos.bare, 'log', '--format=%s|%an <%ae>|%cn <%ce>', 'main'))
      .toBe('deploy: web 1.4.2 to prod succeeded (d-1)|Gangway Bot <gangway@example.com>|Gangway Bot <gangway@example.com>\ninitial|Test Person <test@example.com>|Test Person <test@example.com>');
    expect(await git(repos.bare, 'show', '--format=', '--name-only', 'main')).toBe(RECORD.path);
    expect(`${await git(repos.bare, 'show', `main:${RECORD.path}`)}\n`).toBe(RECORD.content);
    expect(sleeps).toEqual([]);
  });

  it('is idempotent: writing the same record again commits nothing new', async () => {
    const w = writer();
    const first = await w.write(RECORD);
    const second = await w.write(RECORD);

    expect(second).toEqual({ ...first, changed: false });
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('2');
    expect(await git(repos.work, 'status', '--porcelain')).toBe('');
  });

  it('commits a changed record of the same deployment as a new commit', async () => {
    const w = writer();
    const first = await w.write(RECORD);
    const second = await w.write({ ...RECORD, content: `${RECORD.content}\nLate verdict.\n` });

    expect(second.changed).toBe(true);
    expect(second.committed).not.toBe(first.committed);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('3');
  });

  it('leaves files someone else staged out of the record\'s commit', async () => {
    await writeFile(join(repos.work, 'notes.txt'), 'draft\n');
    await git(repos.work, 'add', 'notes.txt');

    await writer().write(RECORD);

    expect(await git(repos.bare, 'show', '--format=', '--name-only', 'main')).toBe(RECORD.path);
    expect(await git(repos.work, 'status', '--porcelain')).toBe('A  notes.txt');
  });

  it('retries a push the remote refuses, then returns the failure; the commit stays local', async () => {
    await repos.rejectPushes('policy: records need review');
    const before = await git(repos.bare, 'rev-parse', 'main');

    const r = await writer().write(RECORD);

    const local = await git(repos.work, 'rev-parse', 'HEAD');
    expect(r).toEqual({
      path: RECORD.path, committed: local, changed: true, pushed: false,
      error: `git push to origin failed: remote: policy: records need review; To ${repos.bare}; ! [remote rejected] HEAD -> main (pre-receive hook declined); error: failed to push some refs to '${repos.bare}' (after 3 attempts)`,
    });
    expect(sleeps).toEqual([10, 20]);
    expect(await git(repos.work, 'log', '-1', '--format=%s')).toBe(RECORD.message);
    expect(await git(repos.bare, 'rev-parse', 'main')).toBe(before);
  });

  it('returns the failure when the remote is down (a path that does not exist)', async () => {
    const gone = join(repos.root, 'gone.git');
    const r = await writer({ remote: gone, pushRetries: 1 }).write(RECORD);

    expect(r).toEqual({
      path: RECORD.path, committed: await git(repos.work, 'rev-parse', 'HEAD'), changed: true, pushed: false,
      error: `git push to ${gone} failed: fatal: '${gone}' does not appear to be a git repository; fatal: Could not read from remote repository.; Please make sure you have the correct access rights; and the repository exists. (after 2 attempts)`,
    });
    expect(sleeps).toEqual([10]);
  });

  it('a later write pushes the commit an earlier failed push left behind', async () => {
    const gone = join(repos.root, 'gone.git');
    await writer({ remote: gone, pushRetries: 0 }).write(RECORD);

    const again = await writer().write(RECORD);

    expect(again).toEqual({ path: RECORD.path, committed: await git(repos.bare, 'rev-parse', 'main'), changed: false, pushed: true });
    expect(await git(repos.bare, 'log', '-1', '--format=%s', 'main')).toBe(RECORD.message);
  });

  it('resolves a race with another pusher by rebasing onto the remote and pushing again', async () => {
    const other = await repos.clone('other');
    await mkdir(join(other, 'docs/deployments/dev'), { recursive: true });
    await writeFile(join(other, 'docs/deployments/dev/other.md'), 'other\n');
    await git(other, 'add', '.');
    await git(other, 'commit', '--quiet', '-m', 'deploy: api 2.0.0 to dev succeeded (d-0)');
    await git(other, 'push', '--quiet', 'origin', 'main');

    const r = await writer().write(RECORD);

    const head = await git(repos.bare, 'rev-parse', 'main');
    expect(r).toEqual({ path: RECORD.path, committed: head, changed: true, pushed: true });
    expect(await git(repos.bare, 'log', '--format=%s', 'main'))
      .toBe('deploy: web 1.4.2 to prod succeeded (d-1)\ndeploy: api 2.0.0 to dev succeeded (d-0)\ninitial');
    expect(await readFile(join(repos.work, 'docs/deployments/dev/other.md'), 'utf8')).toBe('other\n');
    expect(sleeps).toEqual([]);
  });

  it('commits without pushing when no remote is configured', async () => {
    const r = await writer({ remote: null }).write(RECORD);

    expect(r).toEqual({ path: RECORD.path, committed: await git(repos.work, 'rev-parse', 'HEAD'), changed: true, pushed: false });
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('1');
  });

  it('creates the configured branch when it does not exist and pushes it', async () => {
    const r = await writer({ branch: 'deployment-records' }).write(RECORD);

    expect(await git(repos.work, 'symbolic-ref', '--short', 'HEAD')).toBe('deployment-records');
    expect(r.committed).toBe(await git(repos.bare, 'rev-parse', 'deployment-records'));
    expect(await git(repos.bare, 'log', '--format=%s', 'deployment-records')).toBe(`${RECORD.message}\ninitial`);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('1');
  });

  it('starts the branch of a repository without commits', async () => {
    const empty = join(repos.root, 'empty');
    await git(repos.root, 'init', '--quiet', '--initial-branch=trunk', empty);

    const r = await writer({ repo: empty, remote: null, branch: 'records' }).write(RECORD);

    expect(await git(empty, 'log', '--format=%s', 'records')).toBe(RECORD.message);
    expect(r.committed).toBe(await git(empty, 'rev-parse', 'records'));
  });

  it('throws a clear error when the folder is not a git repository, or missing', async () => {
    const plain = join(repos.root, 'plain');
    await mkdir(plain);
    const missing = join(repos.root, 'missing');

    const notRepo = await writer({ repo: plain }).write(RECORD).catch((e: unknown) => e);
    expect(notRepo).toBeInstanceOf(GitRecordsError);
    expect((notRepo as GitRecordsError).message).toBe(`records repository ${plain} is not a git repository`);
    expect((notRepo as GitRecordsError).hint).toBe(`clone the records repository there (git clone <url> ${plain}) or run git init in it`);

    await expect(writer({ repo: missing }).write(RECORD)).rejects.toThrow(`records repository ${missing} does not exist`);
  });

  it('refuses a branch name git would read as an option, and a path outside the repository', async () => {
    await expect(writer({ branch: '--force' }).write(RECORD)).rejects.toThrow('records.branch "--force" is not a valid branch name');
    await expect(writer().write({ ...RECORD, path: '../escape.md' })).rejects.toThrow(`record path "../escape.md" is outside the records repository ${repos.work}`);
  });
});

describe('redact', () => {
  it('masks credentials in URLs', () => {
    expect(redact("fatal: unable to access 'https://bot:s3cr3t@git.example.com/ops/records.git/': 403"))
      .toBe("fatal: unable to access 'https://***@git.example.com/ops/records.git/': 403");
    expect(redact('ssh://git@host/repo.git and /plain/path')).toBe('ssh://***@host/repo.git and /plain/path');
  });
});
