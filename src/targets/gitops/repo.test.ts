import { readFile, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IMAGE_TAGS_YAML, commitFiles, git, installHook, makeRepos, requireGit, type Repos } from '../../../test/support/git-repos.js';
import { GitOpsError } from './errors.js';
import { changeMessage } from './message.js';
import { GitOpsRepo, type GitOpsRepoOptions } from './repo.js';

const hasGit = await requireGit('GitOps repository tests');

const FILE = 'helm/environments/staging-env/image-tags.yaml';
const API_FILE = 'helm/environments/staging-env/api-image-tags.yaml';
const VALUES = IMAGE_TAGS_YAML;
const withTag = (tag: string) => VALUES.replace('tag: "1.4.1"', `tag: "${tag}"`);

const DEPLOY = changeMessage({ service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42' });
const ROLLBACK = changeMessage({ service: 'web', environment: 'staging', version: '1.4.1', deploymentId: 'd-7', actor: 'gangway', action: 'rollback' });
const FALLBACK = { file: FILE, key: 'image.tag', value: '1.4.1' };

async function failure(p: Promise<unknown>): Promise<GitOpsError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof GitOpsError)) throw new Error(`expected a GitOpsError, got ${String(err)}`);
  return err;
}

describe.skipIf(!hasGit)('GitOpsRepo (real git)', () => {
  let repos: Repos;
  let stateDir: string;
  let sleeps: number[];

  beforeEach(async () => {
    repos = await makeRepos();
    stateDir = join(repos.root, 'state');
    sleeps = [];
    await commitFiles(repos.work, { [FILE]: VALUES, [API_FILE]: VALUES }, 'add staging values');
  });
  afterEach(async () => {
    await repos.remove();
  });

  function gitops(over: Partial<GitOpsRepoOptions> = {}): GitOpsRepo {
    return new GitOpsRepo({
      repo: repos.bare, branch: 'main', stateDir, author: { name: 'Gangway Bot', email: 'gangway@example.com' },
      pushRetries: 2, backoffMs: 10, sleep: async (ms) => { sleeps.push(ms); }, ...over,
    });
  }

  /** The file as a person pulling the branch gets it, byte for byte. */
  async function pulled(file: string): Promise<string> {
    await git(repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    return readFile(join(repos.work, file), 'utf8');
  }

  it('commits the value as the configured author with the message and pushes it; the rest of the file is untouched', async () => {
    const repo = gitops();
    const r = await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });

    expect(r).toEqual({ commit: await git(repos.bare, 'rev-parse', 'main'), changed: true, pushed: true });
    expect(await pulled(FILE)).toBe(withTag('1.4.2'));
    expect(await git(repos.bare, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%B', 'main'))
      .toBe('Gangway Bot <gangway@example.com>|Gangway Bot <gangway@example.com>|deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: CHG-42\nService: web\nEnvironment: staging\nVersion: 1.4.2');
    expect(await git(repos.bare, 'show', '--format=', '--name-only', 'main')).toBe(FILE);
    expect(dirname(repo.dir)).toBe(join(stateDir, 'gitops'));
    expect(basename(repo.dir)).toMatch(/^[0-9a-f]{16}$/);
    expect(sleeps).toEqual([]);
  });

  it('is idempotent: the value already on the branch makes no commit, also for a fresh instance', async () => {
    const first = await gitops().setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });

    const again = await gitops().setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });

    expect(again).toEqual({ commit: first.commit, changed: false, pushed: false });
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('3');
  });

  it('starts from the remote branch each time, discarding local edits and commits in its clone', async () => {
    const repo = gitops();
    await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });
    await commitFiles(repo.dir, { 'stray.txt': 'stray\n' }, 'local only', false);
    await git(repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    await commitFiles(repos.work, { [FILE]: withTag('1.4.3') }, 'hotfix by hand');

    const r = await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.4', message: DEPLOY.replace('1.4.2', '1.4.4') });

    expect(r.commit).toBe(await git(repos.bare, 'rev-parse', 'main'));
    expect(await git(repos.bare, 'log', '--format=%s', 'main'))
      .toBe('deploy web 1.4.4 to staging\nhotfix by hand\ndeploy web 1.4.2 to staging\nadd staging values\ninitial');
    expect(await pulled(FILE)).toBe(withTag('1.4.4'));
  });

  it('refuses a key or a file that is not there, naming what is, and commits nothing', async () => {
    const repo = gitops();
    const key = await failure(repo.setKey({ file: FILE, key: 'image.tags', value: '1.4.2', message: DEPLOY }));
    expect(key.code).toBe('invalid_argument');
    expect(key.message).toBe(`image.tags not found in ${FILE}: image has the keys repository, tag, pullPolicy`);

    const prod = 'helm/environments/prod-env/image-tags.yaml';
    const file = await failure(repo.setKey({ file: prod, key: 'image.tag', value: '1.4.2', message: DEPLOY }));
    expect(file.code).toBe('invalid_argument');
    expect(file.message).toBe(`values file ${prod} does not exist on branch main of ${repos.bare}`);
    expect(file.hint).toBe('check the file path (its {environment} and {service} placeholders) or add the file to the branch');
    expect(file.details).toEqual({ repo: repos.bare, file: prod });

    const outside = await failure(repo.setKey({ file: '../other/values.yaml', key: 'image.tag', value: '1', message: DEPLOY }));
    expect(outside.message).toBe(`values file "../other/values.yaml" is outside the repository ${repos.bare}`);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('2');
  });

  it('refuses a values file that is a symbolic link, so a change never leaves the repository', async () => {
    const link = 'helm/environments/staging-env/linked.yaml';
    await symlink('/etc/hostname', join(repos.work, link));
    await git(repos.work, 'add', link);
    await commitFiles(repos.work, {}, 'add a link');

    const err = await failure(gitops().setKey({ file: link, key: 'image.tag', value: '1.4.2', message: DEPLOY }));

    expect(err.message).toBe(`values file ${link} in ${repos.bare} is a symbolic link or inside one; Gangway edits regular files only`);
  });

  it('wins a race with another pusher by rebasing onto the remote branch and pushing again', async () => {
    const repo = gitops();
    await repo.head(); // makes the clone, so a hook can go into it
    const other = await repos.clone('other');
    await commitFiles(other, { [API_FILE]: withTag('2.0.0') }, 'deploy api 2.0.0 to staging', false);
    // Between Gangway's commit and its push, the other clone pushes: Gangway's first push is refused.
    const mark = join(repos.root, 'raced');
    await installHook(repo.dir, 'post-commit', `[ -e '${mark}' ] && exit 0\ntouch '${mark}'\ncd '${other}' && git push --quiet origin main`);

    const r = await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });

    expect(r).toEqual({ commit: await git(repos.bare, 'rev-parse', 'main'), changed: true, pushed: true });
    expect(await git(repos.bare, 'log', '--format=%s', 'main'))
      .toBe('deploy web 1.4.2 to staging\ndeploy api 2.0.0 to staging\nadd staging values\ninitial');
    expect(await pulled(FILE)).toBe(withTag('1.4.2'));
    expect(await pulled(API_FILE)).toBe(withTag('2.0.0'));
    expect(sleeps).toEqual([]);
  });

  it('serialises changes of two instances on one clone', async () => {
    const [web, api] = await Promise.all([
      gitops().setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY }),
      gitops().setKey({ file: API_FILE, key: 'image.tag', value: '2.0.0', message: 'deploy api 2.0.0 to staging' }),
    ]);

    expect(api.commit).toBe(await git(repos.bare, 'rev-parse', 'main'));
    expect(await git(repos.bare, 'rev-parse', 'main~1')).toBe(web.commit);
    expect(sleeps).toEqual([]);
  });

  it('throws when the remote refuses the push, naming the remote with its credentials masked', async () => {
    const url = 'https://bot:s3cr3t@git.example.com/ops/config.git';
    // git reads this URL as the local bare repository, so the credentials pass through every message.
    const env = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `url.${repos.bare}.insteadOf`, GIT_CONFIG_VALUE_0: url };
    await repos.rejectPushes('policy: config changes need review');
    const before = await git(repos.bare, 'rev-parse', 'main');

    const err = await failure(gitops({ repo: url, env }).setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY }));

    expect(err.code).toBe('conflict');
    expect(err.message).toBe(`git push to https://***@git.example.com/ops/config.git failed: remote: policy: config changes need review; To ${repos.bare}; ! [remote rejected] HEAD -> main (pre-receive hook declined); error: failed to push some refs to '${repos.bare}' (after 3 attempts)`);
    expect(err.hint).toBe('nothing was changed on branch main; check that https://***@git.example.com/ops/config.git is reachable and accepts pushes to it from this machine');
    expect(err.details).toEqual({ repo: 'https://***@git.example.com/ops/config.git' });
    expect(JSON.stringify({ message: err.message, hint: err.hint, details: err.details })).not.toContain('s3cr3t');
    expect(sleeps).toEqual([10, 20]);
    expect(await git(repos.bare, 'rev-parse', 'main')).toBe(before);
  });

  it('throws when the remote is down, before and after the clone exists', async () => {
    const gone = join(repos.root, 'gone.git');
    const never = await failure(gitops({ repo: gone }).head());
    expect(never.code).toBe('unreachable');
    expect(never.message).toBe(`could not fetch branch main of ${gone}: fatal: '${gone}' does not appear to be a git repository; fatal: Could not read from remote repository.; Please make sure you have the correct access rights; and the repository exists.`);
    expect(never.hint).toBe('check that the repository is reachable from this machine and has branch main');

    const repo = gitops();
    await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });
    await rm(repos.bare, { recursive: true, force: true });
    const down = await failure(repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.3', message: DEPLOY }));
    expect(down.code).toBe('unreachable');
    expect(down.message).toBe(`could not fetch branch main of ${repos.bare}: fatal: '${repos.bare}' does not appear to be a git repository; fatal: Could not read from remote repository.; Please make sure you have the correct access rights; and the repository exists.`);
  });

  it('refuses a branch name git would read as an option', async () => {
    const err = await failure(gitops({ branch: '--force' }).head());
    expect(err.message).toBe('gitops branch "--force" is not a valid branch name');
  });

  it('rolls back with a revert commit, once', async () => {
    const repo = gitops();
    const deployed = await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });

    const r = await repo.revert({ commit: deployed.commit, message: ROLLBACK, fallback: FALLBACK });

    expect(r).toEqual({ commit: await git(repos.bare, 'rev-parse', 'main'), changed: true, pushed: true, method: 'revert' });
    expect(await pulled(FILE)).toBe(VALUES);
    expect(await git(repos.bare, 'log', '-1', '--format=%an|%B', 'main')).toBe('Gangway Bot|roll back web to 1.4.1 in staging\n\nDeployment: d-7\nActor: gangway\nService: web\nEnvironment: staging\nVersion: 1.4.1');

    const again = await repo.revert({ commit: deployed.commit, message: ROLLBACK, fallback: FALLBACK });
    expect(again).toEqual({ commit: r.commit, changed: false, pushed: false, method: 'revert' });
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('4');
  });

  it('writes the stable value when the revert conflicts with a later change of the same line', async () => {
    const repo = gitops();
    const deployed = await repo.setKey({ file: FILE, key: 'image.tag', value: '1.4.2', message: DEPLOY });
    await git(repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    await commitFiles(repos.work, { [FILE]: withTag('1.4.3') }, 'hotfix by hand');

    const r = await repo.revert({ commit: deployed.commit, message: ROLLBACK, fallback: FALLBACK });

    expect(r).toEqual({
      commit: await git(repos.bare, 'rev-parse', 'main'), changed: true, pushed: true, method: 'write',
      revertFailure: `git revert ${deployed.commit} failed: error: could not revert ${deployed.commit.slice(0, 7)}... deploy web 1.4.2 to staging; Auto-merging ${FILE}; CONFLICT (content): Merge conflict in ${FILE}`,
    });
    expect(await pulled(FILE)).toBe(VALUES);
    expect(await git(repos.bare, 'log', '--format=%s', 'main'))
      .toBe('roll back web to 1.4.1 in staging\nhotfix by hand\ndeploy web 1.4.2 to staging\nadd staging values\ninitial');
    expect(await git(repo.dir, 'status', '--porcelain')).toBe('');
  });

  it('writes the stable value when the commit is not on the branch', async () => {
    const unknown = '0123456789abcdef0123456789abcdef01234567';
    const r = await gitops().revert({ commit: unknown, message: ROLLBACK, fallback: { ...FALLBACK, value: '1.4.0' } });

    expect(r).toEqual({
      commit: await git(repos.bare, 'rev-parse', 'main'), changed: true, pushed: true, method: 'write',
      revertFailure: `${unknown} is not a commit of ${repos.bare}`,
    });
    expect(await pulled(FILE)).toBe(withTag('1.4.0'));
    await expect(gitops().revert({ commit: 'HEAD~1', message: ROLLBACK, fallback: FALLBACK })).rejects.toThrow('"HEAD~1" is not a commit sha');
  });

  it('reads the remote head and a file at a commit', async () => {
    const repo = gitops();
    const initial = await git(repos.bare, 'rev-parse', 'main~1');
    const head = await repo.head();
    expect(head).toBe(await git(repos.bare, 'rev-parse', 'main'));

    // A commit pushed by someone else is fetched when asked for.
    const later = await commitFiles(repos.work, { [FILE]: withTag('1.5.0') }, 'deploy web 1.5.0 by hand');
    expect(await repo.fileAt(later, FILE)).toBe(withTag('1.5.0'));
    expect(await repo.fileAt(head, FILE)).toBe(VALUES);
    expect(await repo.fileAt(initial, FILE)).toBe(null);

    const missing = await failure(repo.fileAt('0123456789abcdef0123456789abcdef01234567', FILE));
    expect(missing.code).toBe('not_found');
    expect(missing.message).toBe(`commit 0123456789abcdef0123456789abcdef01234567 is not in branch main of ${repos.bare}`);
  });
});
