import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { git, makeRepos, requireGit, type Repos } from '../../test/support/git-repos.js';
import { GitRunner, gitMessage, redact, type GitRunnerOptions } from './runner.js';

const hasGit = await requireGit('git runner tests');

const fault = (message: string, hint?: string, options?: { cause?: unknown }) => new GangwayError('internal', message, hint, undefined, options);

describe.skipIf(!hasGit)('GitRunner (real git)', () => {
  let repos: Repos;
  beforeEach(async () => {
    repos = await makeRepos();
  });
  afterEach(async () => {
    await repos.remove();
  });

  function runner(over: Partial<GitRunnerOptions> = {}): GitRunner {
    return new GitRunner({ cwd: repos.work, author: { name: 'Gangway Bot', email: 'gangway@example.com' }, fault, ...over });
  }

  it('commits as the configured identity and ignores a GIT_DIR of the calling process', async () => {
    const before = process.env.GIT_DIR;
    process.env.GIT_DIR = join(repos.bare);
    try {
      const r = await runner().run(['var', 'GIT_COMMITTER_IDENT']);
      expect(r.code).toBe(0);
      expect(r.stdout.replace(/ \d+ [+-]\d{4}\n$/, '')).toBe('Gangway Bot <gangway@example.com>');
      expect((await runner().run(['rev-parse', '--show-toplevel'])).stdout.trim()).toBe(await git(repos.work, 'rev-parse', '--show-toplevel'));
    } finally {
      if (before === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = before;
    }
  });

  it('returns a failing command as data, and throws the caller\'s fault from must, redacted', async () => {
    const git = runner({ label: 'https://bot:s3cr3t@git.example.com/ops.git' });
    expect(await git.run(['rev-parse', '--verify', '--quiet', 'refs/heads/none'])).toEqual({ code: 1, stdout: '', stderr: '' });

    const err = await git.must(['switch', 'none'], 'switch to branch none').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect((err as GangwayError).message).toBe("could not switch to branch none in https://***@git.example.com/ops.git: fatal: invalid reference: none");
  });

  it('throws the caller\'s fault when git is not installed', async () => {
    const err = await runner({ env: { PATH: join(repos.root, 'no-bin') } }).run(['status']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect((err as GangwayError).message).toBe('git is not installed');
    expect((err as GangwayError).hint).toBe('install git (Debian package git)');
  });
});

describe('gitMessage', () => {
  it('keeps git\'s words on one line without its hints', () => {
    expect(gitMessage({ code: 1, stdout: '', stderr: 'error: failed to push\nhint: pull first\n  \nfatal: gave up\n' })).toBe('error: failed to push; fatal: gave up');
    expect(gitMessage({ code: 128, stdout: '', stderr: '' })).toBe('exit code 128');
    expect(gitMessage({ code: 1, stdout: '', stderr: 'x'.repeat(1200) })).toBe(`${'x'.repeat(1000)}…`);
  });
});

describe('redact', () => {
  it('masks the user part of every URL and leaves paths and scp-like addresses without credentials alone', () => {
    expect(redact('push https://bot:tok@a.example/x.git and http://tok@b.example/y')).toBe('push https://***@a.example/x.git and http://***@b.example/y');
    expect(redact('git@github.com:acme/cfg.git /srv/cfg.git')).toBe('git@github.com:acme/cfg.git /srv/cfg.git');
  });
});
