/**
 * The tool checks of `gangway up` and `validate --check-tools`, on configs parsed from YAML:
 * given services whose targets run helm, kubectl or git with Argo CD, when the tools are checked
 * without the network (as `up` does), then each tool is one row naming the services that need
 * it, a missing binary or an unset token variable is a failed row with what to do, and
 * `toolsError` turns the failed rows into the one message `up` refuses to start with. The helm
 * found is the FAKE helm of test/support/fake-helm.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAKE_HELM_BIN } from '../../test/support/fake-helm/index.js';
import { parseConfig } from '../config/load.js';
import { GangwayError } from '../errors.js';
import { checkTools, toolsError } from './tool-checks.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-tool-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Nothing at these paths. */
const NO_HELM = join(dir, 'bin', 'helm');
const NO_KUBECTL = join(dir, 'bin', 'kubectl');
/** The environment the tools run with: this PATH (node for the fake helm, git), nothing else. */
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const HELM_HINT = 'install Helm 3.7 or later (https://helm.sh/docs/intro/install/), or set target.helm.helm to its path';

const config = (services: string) => parseConfig(`project: shop
environments:
  dev: {}
  prod: {}
services:
${services}`, join(dir, 'gangway.yaml'), { env: {} });

describe('checkTools without the network (gangway up)', () => {
  it('a missing helm binary is one failed row for every service and environment that runs it, with the hint; toolsError makes it the message up refuses with', async () => {
    const cfg = config(`  web:
    target: { helm: { chart: ./chart, helm: ${JSON.stringify(NO_HELM)} } }
  api:
    target: { helm: { chart: ./chart, helm: ${JSON.stringify(NO_HELM)} } }
`);
    const checks = await checkTools(cfg, { network: false, env: ENV });
    expect(checks).toEqual([{
      what: `helm ${NO_HELM}`, ok: false, detail: `target.helm.helm: the helm binary "${NO_HELM}" was not found`, hint: HELM_HINT,
      for: ['web/dev', 'web/prod', 'api/dev', 'api/prod'],
    }]);
    const err = toolsError(checks);
    expect(err).toBeInstanceOf(GangwayError);
    expect([err?.code, err?.message, err?.hint]).toEqual([
      'invalid_config', `helm ${NO_HELM} (needed by web/dev, web/prod, api/dev, api/prod): target.helm.helm: the helm binary "${NO_HELM}" was not found`, HELM_HINT,
    ]);
  });

  it('a helm that is there is one passing row with its version; the same binary is checked once, another binary once more', async () => {
    const cfg = config(`  web:
    target: { helm: { chart: ./chart, helm: ${JSON.stringify(FAKE_HELM_BIN)} } }
  api:
    target: { helm: { chart: ./chart, helm: ${JSON.stringify(FAKE_HELM_BIN)} } }
    environments:
      prod:
        target: { helm: { helm: ${JSON.stringify(NO_HELM)} } }
`);
    const checks = await checkTools(cfg, { network: false, env: ENV });
    expect(checks).toEqual([
      { what: `helm ${FAKE_HELM_BIN}`, ok: true, detail: 'v3.16.2', for: ['web/dev', 'web/prod', 'api/dev'] },
      { what: `helm ${NO_HELM}`, ok: false, detail: `target.helm.helm: the helm binary "${NO_HELM}" was not found`, hint: HELM_HINT, for: ['api/prod'] },
    ]);
    expect(toolsError(checks)?.message).toBe(`helm ${NO_HELM} (needed by api/prod): target.helm.helm: the helm binary "${NO_HELM}" was not found`);
    expect(toolsError(checks.slice(0, 1))).toBeNull();
  });

  it('a helm older than 3.7 fails its row, naming the version it found', async () => {
    const cfg = config(`  web:
    target: { helm: { chart: ./chart, helm: ${JSON.stringify(FAKE_HELM_BIN)} } }
`);
    const checks = await checkTools(cfg, { network: false, env: { ...ENV, FAKE_HELM_VERSION: 'v3.6.3' } });
    expect(checks).toEqual([{
      what: `helm ${FAKE_HELM_BIN}`, ok: false, detail: `target.helm.helm: "${FAKE_HELM_BIN}" is Helm v3.6.3; Gangway needs Helm 3.7 or later (--post-renderer-args)`,
      hint: 'install Helm 3.7 or later, or set target.helm.helm to its path', for: ['web/dev', 'web/prod'],
    }]);
  });

  it('the GitOps token variable unset (or blank) is a failed row naming target.gitops.argocd.tokenFromEnv; git is checked once for every GitOps service', async () => {
    const gitops = (name: string) => `  ${name}:
    target:
      gitops:
        repo: https://git.example.com/shop/deploy.git
        file: apps/{service}/values-{environment}.yaml
        argocd: { server: https://argocd.example.com, tokenFromEnv: ARGOCD_TOKEN }
`;
    const cfg = config(gitops('web') + gitops('api'));
    const pairs = ['web/dev', 'web/prod', 'api/dev', 'api/prod'];
    const unset = {
      what: 'ARGOCD_TOKEN', ok: false, detail: 'ARGOCD_TOKEN is not set (target.gitops.argocd.tokenFromEnv)',
      hint: 'export ARGOCD_TOKEN with an Argo CD API token (argocd account generate-token --account <account>)', for: pairs,
    };
    const git = { what: 'git', ok: true, detail: expect.stringMatching(/^git version \d+\.\d+/) as string, for: pairs };
    expect(await checkTools(cfg, { network: false, env: ENV })).toEqual([git, unset]);
    expect(await checkTools(cfg, { network: false, env: { ...ENV, ARGOCD_TOKEN: '  ' } })).toEqual([git, unset]);
    expect(await checkTools(cfg, { network: false, env: { ...ENV, ARGOCD_TOKEN: 'secret' } })).toEqual([git, { what: 'ARGOCD_TOKEN', ok: true, detail: 'set', for: pairs }]);
    expect(toolsError(await checkTools(cfg, { network: false, env: ENV }))?.message).toBe(
      'ARGOCD_TOKEN (needed by web/dev, web/prod, api/dev, api/prod): ARGOCD_TOKEN is not set (target.gitops.argocd.tokenFromEnv)');
  });

  it('a missing kubectl is checked for a kustomize source only, not for plain manifests', async () => {
    const cfg = config(`  web:
    target: { kubernetes: { kustomize: k8s/overlay, kubectl: ${JSON.stringify(NO_KUBECTL)} } }
  api:
    target: { kubernetes: { manifests: k8s/api, kubectl: ${JSON.stringify(NO_KUBECTL)} } }
`);
    expect(await checkTools(cfg, { network: false, env: ENV })).toEqual([{
      what: `kubectl ${NO_KUBECTL}`, ok: false, detail: `"${NO_KUBECTL}" is not installed or not on PATH`,
      hint: 'install kubectl (https://kubernetes.io/docs/tasks/tools/), or set target.kubernetes.kubectl to its path', for: ['web/dev', 'web/prod'],
    }]);
  });

  it('services on the local target need no tool: no rows, no error', async () => {
    const cfg = config(`  web:
    target: { local: { command: [node, server.js], port: 8080 } }
    environments:
      prod: { target: { local: { port: 8081 } } }
`);
    const checks = await checkTools(cfg, { network: false, env: ENV });
    expect(checks).toEqual([]);
    expect(toolsError(checks)).toBeNull();
  });
});
