/**
 * A real Prometheus for tests (the Debian package `prometheus`, binary /usr/bin/prometheus):
 * a generated config scraping the given targets every second, its TSDB in a temporary folder,
 * listening on a free loopback port; stopped and deleted afterwards.
 *
 * @example
 * ```ts
 * const prom = await startPrometheusOrSkip('Prometheus provider tests', { targets: [`127.0.0.1:${metricsPort}`] });
 * afterAll(() => prom?.stop());
 * describe.skipIf(!prom)('prometheus', () => { ... prom!.address ... });
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
export const PROMETHEUS_BIN = process.env.GANGWAY_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
/** What to install when it is missing. */
export const PROMETHEUS_PACKAGE = 'the Debian package prometheus (apt-get install prometheus)';

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` targets scraped at `/metrics` (job `agent`). */
  targets?: string[];
  /** Scrape interval. Default 1000. */
  scrapeIntervalMs?: number;
}

/** A running test Prometheus. */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  readonly address: string;
  readonly port: number;
  /** Everything it logged so far (for failure messages). */
  log(): string;
  /** Stops the server and deletes its data. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

/** Whether the Prometheus binary is installed. */
export function hasPrometheus(): boolean {
  return existsSync(PROMETHEUS_BIN);
}


function configYaml(targets: string[], intervalMs: number): string {
  const interval = `${intervalMs}ms`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: agent',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

/**
 * Starts Prometheus and resolves once `/-/ready` answers 200. Rejects (after cleaning up) when
 * the binary is missing or the server does not become ready.
 */
export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusServer> {
  if (!hasPrometheus()) throw new Error(`${PROMETHEUS_BIN} not found`);
  const dir = await mkdtemp(join(tmpdir(), 'gangway-prom-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, configYaml(opts.targets ?? [], opts.scrapeIntervalMs ?? 1000));
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

async function launch(dir: string, configFile: string, port: number): Promise<PrometheusServer> {
  const address = `http://127.0.0.1:${port}`;
  const d = await startDaemon({
    name: 'prometheus', bin: PROMETHEUS_BIN, dir, port, timeoutMs: START_TIMEOUT_MS, readyUrl: `${address}/-/ready`,
    args: [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
  });
  return { address, port, log: d.log, stop: () => d.stop(true) };
}

/**
 * {@link startPrometheus}, or undefined after a loud SKIPPED message naming the Debian package
 * when it cannot run (under `GANGWAY_REQUIRE_ALL=1` that throws instead).
 */
export function startPrometheusOrSkip(what: string, opts: PrometheusOptions = {}): Promise<PrometheusServer | undefined> {
  return probeOrSkip(what, PROMETHEUS_PACKAGE, () => startPrometheus(opts));
}

/**
 * Evaluates a PromQL query through the HTTP API directly (for test set-up: waiting for
 * scrapes, reading raw samples) and returns its `data`. Throws on any error.
 */
export async function promQuery(address: string, query: string, timeMs?: number): Promise<{ resultType: string; result: unknown }> {
  const params = new URLSearchParams({ query });
  if (timeMs !== undefined) params.set('time', (timeMs / 1000).toFixed(3));
  const res = await fetch(`${address}/api/v1/query?${params}`);
  const body = await res.json() as { status: string; data: { resultType: string; result: unknown }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${query} failed: ${body.error}`);
  return body.data;
}
