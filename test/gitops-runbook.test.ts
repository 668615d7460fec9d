/**
 * The runbook's whole GitOps deployment process (dev → staging → prod), run by Gangway end to
 * end: the built CLI, real git (the config repository test/fixtures/gitops-e2e/runbook-repo laid
 * out as `helm/environments/{env}-env/image-tags.yaml`, and a records repository), a real OCI
 * registry (the Debian package docker-registry) holding the images and their cosign signatures,
 * the FAKE Argo CD syncing one Application per environment into the FAKE Kubernetes API server.
 *
 * Given  accounts in dev, staging and prod, each with its Application accounts-{env}; every
 *        deployment needs a signed image ("Image Signature" before any deployment); staging takes
 *        releases from dev and prod from staging; prod needs a reason and is closed during
 *        business hours, Monday to Friday; records go to docs/deployments/{environment}/
 * When   1.0.0 ships to dev, 1.1.0 (bad: /health DOWN) ships to dev and is rolled back, an
 *        unsigned 1.2.0 is refused, staging and prod are deployed with no version, prod first
 *        without a reason
 * Then   staging and prod get 1.0.0 (the release that succeeded in the environment before), each
 *        change is a commit with its trailers that Argo CD synced, the bad one reverted, each
 *        deployment has its record, and the Argo CD token is nowhere.
 *
 * The prod window is the runbook's (deny 09:00–17:00 Monday to Friday) in a fixed-offset time
 * zone chosen so that it is about 03:00 there when the test starts: open now, whatever the day,
 * and for hours to come; it is asserted as a gate result, not by waiting.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArgoCD, type FakeArgoCD } from './support/fake-argocd/index.js';
import { startFakeKube, type FakeKube, type Obj } from './support/fake-kube/index.js';
import { ROOT, makeProject, projectHeader, runCli, sleep, type CliResult, type Project } from './support/gangway.js';
import { git, makeRepos, type Repos } from './support/git-repos.js';
import { REGISTRY_PACKAGE, hasRegistry, pushImage, pushSignature, startRegistry, type RegistryServer } from './support/registry.js';
import { requireOrSkip } from './support/require.js';

const available = requireOrSkip('the GitOps runbook scenario (test/gitops-runbook.test.ts)', `${REGISTRY_PACKAGE} and the Debian package git`,
  hasRegistry() && await git(tmpdir(), '--version').then(() => true, () => false));
const FIXTURE = join(ROOT, 'test/fixtures/gitops-e2e/runbook-repo');
const POD_APP = join(ROOT, 'test/fixtures/gitops-e2e/app.mjs');
const TOKEN_VAR = 'GW_GITOPS_RUNBOOK_ARGOCD_TOKEN';
const TOKEN = 'argocd-runbook-token-Vb3nR8sQe1';
const ENVS = ['dev', 'staging', 'prod'] as const;
/** Limits against a hang on a loaded two-core machine, not claims about speed. */
const SETUP_LIMIT_MS = 180_000;
const SCENARIO_LIMIT_MS = 600_000;

interface Gate { gate: string; result: string; reason: string; evidence: Record<string, unknown> }
interface StepView { title: string; status: string; stage: string; output: Record<string, unknown> | null }
interface DeploymentView { id: string; version: string; image: string | null; requestedImage: string | null; phase: string; message: string | null; actor: string; reason: string | null; gates: Gate[]; steps: StepView[] }

interface Refusal { error: { code: string; message: string; details: { gates: Array<{ gate: string; result: string }> } } }

let registry: RegistryServer;
let keys: string;
let kube: FakeKube;
let argo: FakeArgoCD;
let config: Repos;
let records: Repos;
let project: Project;
const digests: Record<string, string> = {};
let host: string;

/**
 * A fixed-offset zone where it is about 03:00 now: the runbook's business hours (09:00–17:00) are
 * six hours away on either side.
 */
function nightZone(now = new Date()): string {
  let offset = (3 - now.getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  // POSIX-style names: Etc/GMT-5 is five hours ahead of UTC.
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

const as = (actor: string) => ({ GANGWAY_ACTOR: actor });
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
async function deploy(actor: string, ...args: string[]): Promise<{ code: number; end: DeploymentView; stderr: string }> {
  const r = await runCli(project.dir, ['deploy', 'accounts', ...args, '--wait', '-o', 'json'], as(actor));
  return { code: r.code, end: json<DeploymentView>(r), stderr: r.stderr };
}
const gates = (d: DeploymentView) => d.gates.map((g) => [g.gate, g.result]);
const steps = (d: DeploymentView) => d.steps.map((s) => [s.stage, s.title, s.status]);
const tagsFile = (env: string) => `helm/environments/${env}-env/image-tags.yaml`;
const valueIn = (env: string) => git(config.bare, 'show', `main:${tagsFile(env)}`).then((t) => /accounts: "([^"]*)"/.exec(t)![1]);
const history = (env: string) => (argo.app(`accounts-${env}`).status.history ?? []).map((h) => h.revision);
const imageIn = (ns: string) => ((((kube.get('deployment', ns, 'accounts')?.spec as Obj).template as Obj).spec as { containers: Array<{ image: string }> }).containers[0]!.image);

async function recordsOf(ids: Record<string, string>): Promise<Record<string, string>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const files = (await git(records.bare, 'ls-tree', '-r', '--name-only', 'main')).split('\n');
    const found: Record<string, string> = {};
    for (const [env, id] of Object.entries(ids)) {
      const path = files.find((f) => f.startsWith(`docs/deployments/${env}/`) && f.endsWith(`-${id}.md`));
      if (path) found[id] = await git(records.bare, 'show', `main:${path}`);
    }
    if (Object.keys(found).length === Object.keys(ids).length) return found;
    if (Date.now() > deadline) throw new Error(`hang guard: records missing; files: ${files.join(', ')}`);
    await sleep(100);
  }
}

describe.skipIf(!available)('the runbook\'s GitOps process: dev → staging → prod with Argo CD', () => {
  beforeAll(async () => {
    registry = await startRegistry();
    host = registry.host;
    keys = await mkdtemp(join(tmpdir(), 'gw-gitops-keys-'));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(keys, 'cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    for (const v of ['1.0.0', '1.1.0', '1.2.0']) digests[v] = await pushImage(registry.url, 'bank/accounts', v, { layers: [`accounts ${v}`] });
    // 1.2.0 was never signed (its CI signing step did not run).
    for (const v of ['1.0.0', '1.1.0']) await pushSignature(registry.url, 'bank/accounts', digests[v]!, privateKey);

    // 1.1.0 is the bad release: its /health answers DOWN.
    kube = await startFakeKube({ images: { [`${host}/bank/accounts`]: { command: [process.execPath, POD_APP], env: { APP_BAD_VERSIONS: digests['1.1.0']! } } } });
    for (const ns of ENVS) await kube.namespace(ns);
    config = await makeRepos();
    await cp(FIXTURE, config.work, { recursive: true });
    const values = join(config.work, 'helm/accounts/values.yaml');
    await writeFile(values, (await readFile(values, 'utf8')).replace('REGISTRY/', `${host}/`));
    await git(config.work, 'add', '-A');
    await git(config.work, 'commit', '--quiet', '-m', 'accounts in dev, staging and prod');
    await git(config.work, 'push', '--quiet', 'origin', 'main');
    records = await makeRepos();
    argo = await startFakeArgoCD({
      kube, tokens: { [TOKEN]: 'gangway' },
      apps: ENVS.map((env) => ({
        name: `accounts-${env}`,
        source: { repoURL: config.bare, path: 'helm/accounts', targetRevision: 'main',
          helm: { releaseName: 'accounts', valueFiles: [`../environments/${env}-env/values.yaml`, `../environments/${env}-env/image-tags.yaml`] } },
        destination: { namespace: env },
      })),
    });
    process.env[TOKEN_VAR] = TOKEN;
    const signature = `    image:\n      signature: { publicKey: "${join(keys, 'cosign.pub')}" }\n`;
    project = await makeProject((p) => `${projectHeader('bank', p)}registries:
  - { host: "${host}", insecure: true }
records:
  repo: "${records.work}"
  remote: origin
  branch: main
  author: { name: Gangway, email: gangway@bank.example }
environments:
  dev:
${signature}  staging:
    promotion: { from: dev }
${signature}  prod:
    promotion: { from: staging }
    reason: required
    windows:
      - deny: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }
        timezone: ${nightZone()}
${signature}services:
  accounts:
    target:
      gitops:
        repo: "${config.bare}"
        file: helm/environments/{environment}-env/image-tags.yaml
        key: tags.accounts
        application: accounts-{environment}
        argocd: { server: "${argo.url}", tokenFromEnv: ${TOKEN_VAR} }
        settle: 0s
        kubeconfig: kubeconfig
        namespace: dev
    health: { path: /health, interval: 200ms, startTimeout: 3m }
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 0s }
    environments:
      staging:
        target: { gitops: { namespace: staging } }
      prod:
        target: { gitops: { namespace: prod } }
`);
    await kube.writeKubeconfig(project.dir, { namespace: 'dev' });
    await project.up();
  }, SETUP_LIMIT_MS);

  afterAll(async () => {
    await project?.cleanup();
    await argo?.close();
    await kube?.close();
    await config?.remove();
    await records?.remove();
    await registry?.stop();
    if (keys) await rm(keys, { recursive: true, force: true });
    delete process.env[TOKEN_VAR];
  }, SETUP_LIMIT_MS);

  it('ships a signed release through dev, staging and prod by commits Argo CD syncs, rolls a bad one back by a revert, and records every deployment', async () => {
    const pinned = (v: string) => `${host}/bank/accounts@${digests[v]}`;

    // dev: "Image Tag" 1.0.0, pinned to its digest, which is what goes to Git.
    const dev1 = await deploy('ci', '--env', 'dev', '--image', `${host}/bank/accounts:1.0.0`);
    expect([dev1.code, dev1.end.phase, dev1.end.version, dev1.end.image, dev1.end.message]).toEqual([0, 'succeeded', '1.0.0', pinned('1.0.0'), null]);
    expect(gates(dev1.end)).toEqual([['rejected', 'pass'], ['freeze', 'pass'], ['image', 'pass'], ['signature', 'pass']]);
    expect(dev1.end.gates.find((g) => g.gate === 'signature')!.evidence).toMatchObject({ digest: digests['1.0.0'] });
    expect(await valueIn('dev')).toBe(digests['1.0.0']);
    expect(imageIn('dev')).toBe(pinned('1.0.0'));
    const devGood = await git(config.bare, 'rev-parse', 'main');

    // dev: 1.1.0 is bad after the sync; the revert goes to Git and Argo CD syncs it.
    const dev2 = await deploy('ci', '--env', 'dev', '--image', `${host}/bank/accounts:1.1.0`);
    expect([dev2.code, dev2.end.phase, dev2.end.version]).toEqual([4, 'rolled_back', '1.1.0']);
    expect(steps(dev2.end)).toEqual([
      ['deploy', 'gates: rejected, freeze, image, signature', 'succeeded'], ['deploy', 'roll out 1.1.0', 'succeeded'],
      ['deploy', 'smoke checks on 1.1.0', 'failed'], ['rollback', 'roll out 1.0.0', 'succeeded'],
    ]);
    expect(dev2.end.message).toBe('smoke check 1 (GET /health) failed: expected status 200, got 503');
    const [devBad, devRevert] = [await git(config.bare, 'rev-parse', 'main~1'), await git(config.bare, 'rev-parse', 'main')];
    expect(await git(config.bare, 'diff', devGood, devRevert)).toBe('');
    expect(history('dev')).toEqual([devGood, devBad, devRevert]);
    expect(imageIn('dev')).toBe(pinned('1.0.0'));

    // dev: an unsigned image is refused before anything is committed.
    const unsigned = await runCli(project.dir, ['deploy', 'accounts', '--env', 'dev', '--image', `${host}/bank/accounts:1.2.0`, '--wait', '-o', 'json'], as('ci'));
    const noSignature = `no signature for ${digests['1.2.0']} (tag ${digests['1.2.0']!.replace(':', '-')}.sig not found)`;
    expect([unsigned.code, unsigned.stderr.split('\n')[0]]).toEqual([3, `error: ${noSignature}`]);
    const blocked = json<Refusal>(unsigned).error;
    expect([blocked.code, blocked.message, blocked.details.gates.map((g) => [g.gate, g.result])]).toEqual([
      'blocked', noSignature, [['rejected', 'pass'], ['freeze', 'pass'], ['image', 'pass'], ['signature', 'fail']],
    ]);
    expect(await git(config.bare, 'rev-parse', 'main')).toBe(devRevert);

    // staging: no version given — the release that succeeded in dev (1.0.0, not the rolled-back 1.1.0).
    const staging = await deploy('alice', '--env', 'staging');
    expect([staging.code, staging.end.phase, staging.end.version, staging.end.image]).toEqual([0, 'succeeded', '1.0.0', pinned('1.0.0')]);
    expect(gates(staging.end)).toEqual([['promotion', 'pass'], ['rejected', 'pass'], ['freeze', 'pass'], ['image', 'pass'], ['signature', 'pass']]);
    expect(await valueIn('staging')).toBe(digests['1.0.0']);

    // prod: a reason is required.
    const noReason = await runCli(project.dir, ['deploy', 'accounts', '--env', 'prod', '--wait', '-o', 'json'], as('alice'));
    expect([noReason.code, noReason.stderr.split('\n')[0]]).toEqual([3, 'error: prod requires a reason for every deployment']);
    expect(json<Refusal>(noReason).error).toMatchObject({ code: 'blocked', message: 'prod requires a reason for every deployment' });
    expect(await git(config.bare, 'log', '-1', '--format=%s', 'main')).toBe('deploy accounts 1.0.0 to staging');

    // prod: from staging, with the change ticket, inside the window.
    const prod = await deploy('alice', '--env', 'prod', '--reason', 'CHG-42');
    expect([prod.code, prod.end.phase, prod.end.version, prod.end.image, prod.end.reason]).toEqual([0, 'succeeded', '1.0.0', pinned('1.0.0'), 'CHG-42']);
    expect(gates(prod.end)).toEqual([
      ['promotion', 'pass'], ['rejected', 'pass'], ['reason', 'pass'], ['freeze', 'pass'], ['window', 'pass'], ['image', 'pass'], ['signature', 'pass'],
    ]);
    expect(imageIn('prod')).toBe(pinned('1.0.0'));

    // Git: one commit per change, with who and why; `git log <env file>` finds the previous tag, as the runbook says.
    expect((await git(config.bare, 'log', '--format=%s', 'main')).split('\n')).toEqual([
      'deploy accounts 1.0.0 to prod', 'deploy accounts 1.0.0 to staging', 'roll back accounts to 1.0.0 in dev', 'deploy accounts 1.1.0 to dev',
      'deploy accounts 1.0.0 to dev', 'accounts in dev, staging and prod', 'initial',
    ]);
    expect(await git(config.bare, 'log', '-1', '--format=%an <%ae>|%b', 'main')).toBe(
      `Gangway <gangway@bank.example>|Deployment: ${prod.end.id}\nActor: alice\nReason: CHG-42\nService: accounts\nEnvironment: prod\nVersion: 1.0.0\nValue: ${digests['1.0.0']}`);
    expect(await git(config.bare, 'log', '--format=%s', 'main', '--', tagsFile('dev'))).toBe('roll back accounts to 1.0.0 in dev\ndeploy accounts 1.1.0 to dev\ndeploy accounts 1.0.0 to dev\naccounts in dev, staging and prod');
    expect(await git(config.bare, 'log', '--format=%s', 'main', '--', tagsFile('prod'))).toBe('deploy accounts 1.0.0 to prod\naccounts in dev, staging and prod');
    for (const env of ['staging', 'prod'] as const) expect(history(env)).toEqual([await git(config.bare, 'log', '-1', '--format=%H', 'main', '--', tagsFile(env))]);

    // Records in docs/deployments/{environment}/ of the records repository, one per deployment.
    const recs = await recordsOf({ dev: dev2.end.id, staging: staging.end.id, prod: prod.end.id });
    expect(recs[dev2.end.id]).toContain('phase: rolled_back');
    expect(recs[staging.end.id]).toContain('phase: succeeded');
    for (const id of [staging.end.id, prod.end.id]) expect(recs[id]).toContain(`digest: ${digests['1.0.0']}`);
    expect(recs[prod.end.id]).toContain('reason: CHG-42');
    expect(recs[prod.end.id]).toContain('actor: alice');

    // The Argo CD token is in no record, no commit and not in the orchestrator's log.
    expect(await git(records.bare, 'log', '-p', '--all')).not.toContain(TOKEN);
    expect(await git(config.bare, 'log', '-p', '--all')).not.toContain(TOKEN);
    expect(await readFile(join(project.dir, '.gangway/orchestrator.log'), 'utf8')).not.toContain(TOKEN);
    expect(argo.errors).toEqual([]);
  }, SCENARIO_LIMIT_MS);
});
