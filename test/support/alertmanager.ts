/**
 * A real Alertmanager for tests (the Debian package `prometheus-alertmanager`, binary
 * /usr/bin/prometheus-alertmanager): a generated config routing every alert, each in its own
 * group, to one webhook receiver with `send_resolved` and a bearer token; no clustering; its
 * storage in a temporary folder; listening on a free loopback port. Stopped and deleted afterwards.
 *
 * @example
 * ```ts
 * const am = await startAlertmanagerOrSkip('Alertmanager suite', { webhookUrl, token });
 * afterAll(() => am?.stop());
 * await am!.postAlerts([{ labels: { alertname: 'Down' } }]);
 * ```
 */
import { startDaemon } from './daemon.js';
import { HelperStartError } from './helper-start.js';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeOrSkip } from './require.js';
import { freePort } from '../../src/agent/ports.js';

/** Where the Debian package installs the server. */
export const ALERTMANAGER_BIN = process.env.GANGWAY_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
/** What to install when it is missing. */
export const ALERTMANAGER_PACKAGE = 'the Debian package prometheus-alertmanager (apt-get install prometheus-alertmanager)';

/** Options of {@link startAlertmanager}. */
export interface AlertmanagerOptions {
  /** Where the webhook receiver posts, e.g. `http://127.0.0.1:7400/v1/webhooks/alertmanager`. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` (`http_config.authorization.credentials`). */
  token: string;
}

/** An alert as posted to `POST /api/v2/alerts`. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339; Alertmanager uses now when absent. */
  startsAt?: string;
  /** RFC 3339; a time in the past resolves the alert. */
  endsAt?: string;
}

/** A running test Alertmanager. */
export interface AlertmanagerServer {
  /** `http://127.0.0.1:<port>` */
  readonly address: string;
  /** Posts alerts to its API (as Prometheus would). */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** The alerts it holds, with their fingerprints. */
  alerts(): Promise<Array<{ fingerprint: string; labels: Record<string, string>; status: { state: string } }>>;
  /** Everything it logged so far (for failure messages). */
  log(): string;
  /** Stops the server and deletes its data. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

/** Whether the Alertmanager binary is installed. */
export function hasAlertmanager(): boolean {
  return existsSync(ALERTMANAGER_BIN);
}


function configYaml(opts: AlertmanagerOptions): string {
  return [
    'route:',
    '  receiver: gangway',
    // "..." groups by every label: each alert is its own group, notified on its own.
    "  group_by: ['...']",
    '  group_wait: 0s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: gangway',
    '    webhook_configs:',
    `      - url: ${JSON.stringify(opts.webhookUrl)}`,
    '        send_resolved: true',
    '        http_config:',
    '          authorization:',
    `            credentials: ${JSON.stringify(opts.token)}`,
    '',
  ].join('\n');
}

/**
 * Starts Alertmanager and resolves once `/-/ready` answers 200. Rejects (after cleaning up)
 * when the binary is missing or the server does not become ready.
 */
export async function startAlertmanager(opts: AlertmanagerOptions): Promise<AlertmanagerServer> {
  if (!hasAlertmanager()) throw new Error(`${ALERTMANAGER_BIN} not found`);
  const dir = await mkdtemp(join(tmpdir(), 'gangway-alertmanager-'));
  const configFile = join(dir, 'alertmanager.yml');
  // The file holds the API token.
  await writeFile(configFile, configYaml(opts), { mode: 0o600 });
  let lastError: unknown;
  // A free port can be taken between finding it and binding it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(dir, configFile, port);
    } catch (err) {
      lastError = err;
      // Only an early exit (the port was taken) is worth another port; a start that timed out is not.
      if (err instanceof HelperStartError && err.timedOut) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function launch(dir: string, configFile: string, port: number): Promise<AlertmanagerServer> {
  const address = `http://127.0.0.1:${port}`;
  const d = await startDaemon({
    name: 'alertmanager', bin: ALERTMANAGER_BIN, dir, port, timeoutMs: START_TIMEOUT_MS, readyUrl: `${address}/-/ready`,
    args: [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no cluster (no gossip port, no peers to wait for).
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
  });
  return {
    address,
    async postAlerts(alerts) {
      const res = await fetch(`${address}/api/v2/alerts`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts),
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`alertmanager refused the alerts (HTTP ${res.status}): ${body}`);
    },
    async alerts() {
      const res = await fetch(`${address}/api/v2/alerts`);
      if (res.status !== 200) throw new Error(`alertmanager: GET /api/v2/alerts answered HTTP ${res.status}`);
      return await res.json() as Array<{ fingerprint: string; labels: Record<string, string>; status: { state: string } }>;
    },
    log: d.log,
    stop: () => d.stop(true),
  };
}

/**
 * {@link startAlertmanager}, or undefined after a loud SKIPPED message naming the Debian
 * package when it cannot run (under `GANGWAY_REQUIRE_ALL=1` that throws instead).
 */
export function startAlertmanagerOrSkip(what: string, opts: AlertmanagerOptions): Promise<AlertmanagerServer | undefined> {
  return probeOrSkip(what, ALERTMANAGER_PACKAGE, () => startAlertmanager(opts));
}
