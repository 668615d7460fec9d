/**
 * examples/gitops is a project users copy: it must load, pass the same capability checks as
 * `gangway validate`, and its config repository (examples/gitops/config-repo, laid out as the
 * runbook's `helm/environments/{env}-env/image-tags.yaml`) must hold what its gangway.yaml and
 * its Argo CD Applications name: each environment's values file with the key Gangway writes
 * (Gangway never adds keys), the chart, and the values files each Application reads. The first
 * example of docs/targets/gitops.md must load too.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { targetProblems } from '../cli/targets.js';
import { readValue } from '../targets/gitops/values-file.js';
import type { GitOpsTargetConfig } from './helm.js';
import { loadConfig } from './load.js';

const DIR = resolve(import.meta.dirname, '../../examples/gitops');
const REPO = join(DIR, 'config-repo');
const ENVS = ['dev', 'staging', 'prod'] as const;

async function example() {
  return loadConfig(resolve(DIR, 'gangway.yaml'), { env: {}, check: targetProblems });
}

const fill = (template: string, env: string, service: string) => template.replaceAll('{environment}', env).replaceAll('{service}', service);

describe('examples/gitops/gangway.yaml', () => {
  it('loads with the runbook\'s gates and compiles target.gitops for dev, staging and prod', async () => {
    const config = await example();
    expect(config.project).toBe('bank');
    expect(config.environments.map((e) => [e.name, e.promotion?.from ?? null, e.reason])).toEqual([
      ['dev', null, 'optional'], ['staging', 'dev', 'optional'], ['prod', 'staging', 'required'],
    ]);
    const prod = config.environments.find((e) => e.name === 'prod')!;
    expect(prod.windows).toEqual([{ deny: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }, timezone: 'America/New_York' }]);
    for (const e of config.environments) expect(e.image?.signature?.publicKey).toContain('-----BEGIN PUBLIC KEY-----');
    // records need a clone of the records repository next to gangway.yaml: commented out until then.
    expect(config.records).toBeNull();

    const accounts = config.services.accounts;
    for (const env of ENVS) {
      const t = accounts[env].target as GitOpsTargetConfig;
      expect(t).toEqual({
        kind: 'gitops', instances: 1, repo: 'https://git.bank.example/platform/deploy-config.git', remote: null, branch: 'main',
        file: 'helm/environments/{environment}-env/image-tags.yaml', key: 'tags.accounts', application: 'accounts-{environment}',
        argocd: { server: 'https://argocd.bank.example', tokenFromEnv: 'ARGOCD_TOKEN', insecure: false },
        syncTimeoutMs: 300_000, settleMs: 30_000, prune: false,
        cluster: { kubeconfig: null, context: null, namespace: env, requestTimeoutMs: 30_000 },
        deployment: 'accounts', service: 'accounts', container: null, port: null, restartLimit: 0, blueGreen: null, canary: null,
      });
      expect(accounts[env].strategy).toEqual({ kind: 'rolling', maxSurge: 1, maxUnavailable: 0 });
      expect(accounts[env].smoke).toHaveLength(1);
    }
    expect([accounts.dev.rollback.watchMs, accounts.staging.rollback.watchMs, accounts.prod.rollback.watchMs]).toEqual([300_000, 300_000, 900_000]);
  });

  it('the config repository holds each environment\'s values file with the key Gangway writes, and the chart', async () => {
    const config = await example();
    for (const env of ENVS) {
      const t = config.services.accounts[env].target as GitOpsTargetConfig;
      const file = fill(t.file, env, 'accounts');
      expect(file).toBe(`helm/environments/${env}-env/image-tags.yaml`);
      expect(readValue(await readFile(join(REPO, file), 'utf8'), file, t.key)).toBe('1.0.0');
      expect(existsSync(join(REPO, `helm/environments/${env}-env/values.yaml`))).toBe(true);
    }
    for (const f of ['Chart.yaml', 'values.yaml', 'templates/deployment.yaml', 'templates/service.yaml']) expect(existsSync(join(REPO, 'helm/accounts', f)), f).toBe(true);
  });

  it('the two-slot chart of the README holds the keys its blueGreen config names, with the serving slot blue', async () => {
    const text = await readFile(join(REPO, 'helm/accounts-bluegreen/values.yaml'), 'utf8');
    expect(['active', 'blue.tag', 'green.tag'].map((k) => readValue(text, 'values.yaml', k))).toEqual(['blue', '1.0.0', '1.0.0']);
    for (const f of ['Chart.yaml', 'templates/deployments.yaml', 'templates/services.yaml']) expect(existsSync(join(REPO, 'helm/accounts-bluegreen', f)), f).toBe(true);
  });

  it('each Application of argocd/applications.yaml is the one gangway.yaml names, reading values files that exist, deploying to the namespace Gangway watches', async () => {
    const config = await example();
    const docs = parseAllDocuments(await readFile(join(REPO, 'argocd/applications.yaml'), 'utf8')).map((d) => d.toJS() as {
      kind: string; metadata: { name: string }; spec: { source: { repoURL: string; targetRevision: string; path: string; helm: { valueFiles: string[] } }; destination: { namespace: string } };
    });
    expect(docs.map((d) => [d.kind, d.metadata.name])).toEqual(ENVS.map((env) => ['Application', `accounts-${env}`]));
    for (const [i, env] of ENVS.entries()) {
      const t = config.services.accounts[env].target as GitOpsTargetConfig;
      const app = docs[i]!;
      expect(app.metadata.name).toBe(fill(t.application, env, 'accounts'));
      expect([app.spec.source.repoURL, app.spec.source.targetRevision, app.spec.destination.namespace]).toEqual([t.repo, t.branch, t.cluster.namespace]);
      expect(existsSync(join(REPO, app.spec.source.path, 'Chart.yaml'))).toBe(true);
      const files = app.spec.source.helm.valueFiles.map((f) => posix.normalize(posix.join(app.spec.source.path, f)));
      expect(files).toContain(fill(t.file, env, 'accounts'));
      for (const f of files) expect(existsSync(join(REPO, f)), f).toBe(true);
    }
  });
});

describe('docs/targets/gitops.md', () => {
  it('its first example loads', async () => {
    const doc = await readFile(resolve(import.meta.dirname, '../../docs/targets/gitops.md'), 'utf8');
    const snippet = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const dir = await mkdtemp(join(tmpdir(), 'gw-gitops-doc-'));
    try {
      await writeFile(join(dir, 'gangway.yaml'), `project: bank\nenvironments:\n  prod: {}\n${snippet}`);
      const config = await loadConfig(join(dir, 'gangway.yaml'), { env: {}, check: targetProblems });
      expect(config.services.accounts.prod.target).toMatchObject({ kind: 'gitops', key: 'tags.accounts', application: 'accounts-{environment}', cluster: { namespace: 'bank' } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
