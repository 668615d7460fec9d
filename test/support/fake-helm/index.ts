/**
 * Test helpers around the FAKE `helm` executable (./helm, a wrapper of ./helm.mjs): where it is,
 * running it as Gangway does (argv, no shell), reading the argv log it writes under
 * `FAKE_HELM_LOG`, and decoding a release Secret back to the release as Helm reads it.
 *
 * @example
 * ```ts
 * const kubeconfig = await kube.writeKubeconfig(dir, { namespace: 'shop' });
 * const r = await runHelm(['upgrade', '--install', 'web', CHART, '-o', 'json'], { env: { KUBECONFIG: kubeconfig } });
 * expect(r.code).toBe(0);
 * const secret = kube.get('secret', 'shop', 'sh.helm.release.v1.web.v1');
 * expect(decodeReleaseSecret(secret!).info.status).toBe('deployed');
 * ```
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** The folder holding the fake `helm` (put it first on PATH to shadow any other helm). */
export const FAKE_HELM_DIR = dirname(fileURLToPath(import.meta.url));

/** The fake `helm` executable (a `#!/bin/sh` wrapper, mode 0755). */
export const FAKE_HELM_BIN = join(FAKE_HELM_DIR, 'helm');

/** The outcome of one run. */
export interface HelmResult { code: number; stdout: string; stderr: string }

/**
 * Runs the fake helm with `args` (no shell). `env` is added to a minimal environment (PATH and
 * HOME of this process); never rejects on a non-zero exit.
 */
export function runHelm(args: string[], o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    execFile(FAKE_HELM_BIN, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...o.env },
      cwd: o.cwd,
      timeout: o.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') { reject(err); return; }
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The argv lines a `FAKE_HELM_LOG` file holds, one array per run. */
export function readHelmLog(file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string[]);
}

/** A release as Helm stores it (the fields the fake writes). */
export interface HelmRelease {
  name: string;
  info: { first_deployed: string; last_deployed: string; deleted: string; description?: string; status: string; notes?: string };
  chart: { metadata: { name: string; version: string; appVersion?: string; apiVersion: string; [k: string]: unknown }; lock: null; templates: Array<{ name: string; data: string }>; values: Record<string, unknown> | null; schema: string | null; files: Array<{ name: string; data: string }> | null };
  config?: Record<string, unknown>;
  manifest: string;
  version: number;
  namespace: string;
}

/**
 * Decodes a release Secret's `data.release` as Helm's `decodeRelease` does after the API's
 * base64: base64 → base64 → gunzip → JSON.
 */
export function decodeReleaseSecret(secret: { data?: unknown }): HelmRelease {
  const data = (secret.data ?? {}) as Record<string, string>;
  const helmString = Buffer.from(data.release ?? '', 'base64').toString('utf8');
  const gz = Buffer.from(helmString, 'base64');
  return JSON.parse(gunzipSync(gz).toString('utf8')) as HelmRelease;
}
