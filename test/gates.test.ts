/**
 * One release walked dev → staging → prod through every gate, end to end: real `gangway up`,
 * agent and instances; a real OCI registry holding the image and its cosign signature; a real
 * Alertmanager raising and lifting an incident freeze through Gangway's webhook.
 *
 * Given  a project whose staging runs a custom check and whose prod needs promotion from
 *        staging, a reason, one approval from ops (not the requester), an open deployment
 *        window, a confirmed checklist item and an image signed with the configured key
 * When   web 1.0.0 (image tag) ships to dev, is promoted to staging, an incident alert fires,
 *        the promotion to prod is tried, the alert resolves, and the promotion is tried again
 * Then   the tag is pinned to its digest once, the frozen prod refuses the release (exit 3),
 *        the unfrozen prod holds it in `waiting` until approved by someone in ops and the
 *        checklist is confirmed, and every gate's result is recorded with its evidence.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { ALERTMANAGER_PACKAGE, hasAlertmanager, startAlertmanager, type AlertmanagerServer } from './support/alertmanager.js';
import { REGISTRY_PACKAGE, hasRegistry, pushImage, pushSignature, startRegistry, type RegistryServer } from './support/registry.js';
import { requireOrSkip } from './support/require.js';

/**
 * Limits against a hang, not claims about speed. The scenario runs `gangway up`, seven more CLI
 * commands and three deployments (each with its own processes); a CLI command costs about half a
 * second of CPU, so on two cores at a load of 24 each takes 5 to 20 s and the scenario minutes
 * (measured: 25 s at a load of 6, 77 s at 21, over 120 s at 24).
 */
const SETUP_LIMIT_MS = 180_000;
const SCENARIO_LIMIT_MS = 300_000;

const available = requireOrSkip('the end-to-end gates scenario (test/gates.test.ts)', `${REGISTRY_PACKAGE} and ${ALERTMANAGER_PACKAGE}`, hasRegistry() && hasAlertmanager());

let project: Project;
let registry: RegistryServer;
let am: AlertmanagerServer;
let keys: string;
let digest: string;
let ports: number[];

interface View { id: string; phase: string; image: string; requestedImage: string; message: string | null; gates: Array<{ gate: string; result: string; reason: string; evidence: Record<string, unknown> }> }

describe.skipIf(!available)('a release through every gate, dev → staging → prod', () => {
  beforeAll(async () => {
    registry = await startRegistry();
    keys = mkdtempSync(join(tmpdir(), 'gangway-keys-'));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(keys, 'cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    digest = await pushImage(registry.url, 'gangway/web', '1.0.0', { layers: ['web 1.0.0'] });
    await pushSignature(registry.url, 'gangway/web', digest, privateKey);
    ports = await freePorts(3);
    project = await makeProject((p) => `
${projectHeader('gates', p)}groups: { ops: [alice, bob] }
registries:
  - { host: "${registry.host}", insecure: true }
incidents: { label: gangway_freeze, value: "true" }
environments:
  dev: {}
  staging:
    promotion: { from: dev }
    checks:
      - name: ci-green
        run: ["${process.execPath}", "-e", "console.log('pipeline green for', process.argv[1])", "\${release.version}"]
  prod:
    promotion: { from: staging }
    reason: required
    approvals: { required: 1, groups: [ops], allowSelfApproval: false }
    windows:
      - allow: { days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00" }
        timezone: Europe/London
    checklist:
      - { name: backup-verified, text: "Database backup verified", confirmers: [bob] }
    image:
      signature: { publicKey: "${join(keys, 'cosign.pub')}" }
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        port: ${ports[0]}
    health: { path: /health, interval: 100ms, startTimeout: 15s }
    rollback: { watch: 0s }
    environments:
      staging: { target: { local: { port: ${ports[1]} } } }
      prod: { target: { local: { port: ${ports[2]} } } }
`);
    await project.up();
    am = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${project.apiPort}/v1/webhooks/alertmanager`, token: project.token() });
  }, SETUP_LIMIT_MS);

  afterAll(async () => {
    await am?.stop();
    await project?.cleanup();
    await registry?.stop();
    if (keys) rmSync(keys, { recursive: true, force: true });
  }, SETUP_LIMIT_MS);

  const as = (actor: string) => ({ GANGWAY_ACTOR: actor });

  it('ships, is frozen by an incident, waits for people, and lands in prod with every gate on record', async () => {
    // dev: the image tag is pinned to its digest when the deployment is requested.
    const image = `${registry.host}/gangway/web:1.0.0`;
    const dev = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0', image });
    expect(dev.status).toBe(201);
    expect([dev.body.image, dev.body.requestedImage]).toEqual([`${registry.host}/gangway/web@${digest}`, image]);
    expect((await waitForEnd(project, dev.body.id)).phase).toBe('succeeded');

    // staging: promoted from dev, after its custom check.
    const staging = await runCli(project.dir, ['promote', 'web', '--to', 'staging', '--wait', '-o', 'json'], as('ci'));
    expect(staging.code, `${staging.stdout}\n${staging.stderr}`).toBe(0);
    const stagingView = JSON.parse(staging.stdout) as View;
    expect(stagingView.gates.map((g) => [g.gate, g.result])).toEqual([['promotion', 'pass'], ['rejected', 'pass'], ['freeze', 'pass'], ['checks', 'pass']]);
    expect(stagingView.gates.find((g) => g.gate === 'checks')!.evidence).toEqual({ checks: [{ name: 'ci-green', ok: true, detail: 'exit 0', output: 'pipeline green for 1.0.0\n' }] });

    // An incident: Alertmanager's webhook freezes prod.
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const alert = { labels: { alertname: 'CheckoutErrors', gangway_freeze: 'true', environment: 'prod' }, annotations: { summary: 'checkout error rate 12%' }, startsAt };
    await am.postAlerts([alert]);
    await until(async () => (await project.api<unknown[]>('GET', '/v1/freezes')).body.length === 1);
    const frozen = await runCli(project.dir, ['promote', 'web', '--to', 'prod', '--reason', 'CHG-7'], as('ci'));
    expect(frozen.code).toBe(3);
    expect(frozen.stderr.split('\n')[0]).toMatch(/^error: frozen by alertmanager: checkout error rate 12% \(since /);

    // The alert resolves: the freeze lifts.
    await am.postAlerts([{ ...alert, endsAt: new Date(Date.now() - 100).toISOString() }]);
    await until(async () => (await project.api<unknown[]>('GET', '/v1/freezes')).body.length === 0);

    // prod: the release waits for an approval from ops and the checklist.
    const created = await runCli(project.dir, ['promote', 'web', '--to', 'prod', '--reason', 'CHG-7', '-o', 'json'], as('ci'));
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.stdout) as View).id;
    await until(async () => (await project.api<View>('GET', `/v1/deployments/${id}`)).body.phase === 'waiting');
    const outsider = await runCli(project.dir, ['approve', id], as('carol'));
    expect([outsider.code, outsider.stderr.split('\n')[0]]).toEqual([2, 'error: carol is not in ops, the group that approves prod deployments']);
    expect((await runCli(project.dir, ['approve', id, '--comment', 'looks good'], as('alice'))).code).toBe(0);
    expect((await runCli(project.dir, ['confirm', id, 'backup-verified', '--note', 'restore tested'], as('bob'))).code).toBe(0);
    const end = await waitForEnd(project, id) as unknown as View;
    expect(end.phase).toBe('succeeded');
    expect(end.gates.map((g) => [g.gate, g.result])).toEqual([
      ['promotion', 'pass'], ['rejected', 'pass'], ['reason', 'pass'], ['freeze', 'pass'], ['window', 'pass'],
      ['image', 'pass'], ['signature', 'pass'], ['approvals', 'pass'], ['checklist', 'pass'],
    ]);
    expect(end.gates.find((g) => g.gate === 'signature')!.evidence).toMatchObject({ digest });
    expect((await (await fetch(`http://127.0.0.1:${ports[2]}/`)).text()).trim()).toBe('1.0.0');
    const history = await runCli(project.dir, ['history', 'web', '--env', 'prod', '-o', 'json']);
    expect((JSON.parse(history.stdout) as Array<{ reason: string; actor: string; image: string }>)[0]).toMatchObject({ reason: 'CHG-7', actor: 'ci', image: `${registry.host}/gangway/web@${digest}` });
  }, SCENARIO_LIMIT_MS);
});

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out\nalertmanager log:\n${am?.log() ?? ''}`);
    await sleep(100);
  }
}
