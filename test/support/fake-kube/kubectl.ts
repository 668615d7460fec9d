/**
 * Runs the real `kubectl` against a FAKE API server (argv only, never a shell), with its own
 * discovery cache directory and HOME so runs never share or leave state in ~/.kube. Suites that
 * need kubectl check `hasKubectl()` and skip loudly through test/support/require.ts when it is
 * missing (failing under GANGWAY_REQUIRE_ALL=1).
 *
 * @example
 * ```ts
 * const ok = requireOrSkip('the kubectl suite', KUBECTL_PACKAGE, hasKubectl());
 * const r = await runKubectl({ kubeconfig, home: dir }, ['get', 'deploy', 'web', '-o', 'json']);
 * expect(r.code).toBe(0);
 * ```
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the image installs kubectl. */
export const KUBECTL_BIN = process.env.GANGWAY_KUBECTL ?? '/usr/bin/kubectl';

/** What to install when it is missing. */
export const KUBECTL_PACKAGE = 'kubectl v1.32 at /usr/bin/kubectl (installed with the image; or set GANGWAY_KUBECTL)';

/** Whether kubectl is present. */
export function hasKubectl(): boolean {
  return existsSync(KUBECTL_BIN);
}

/** The outcome of one kubectl run. */
export interface KubectlResult { code: number; stdout: string; stderr: string }

/**
 * Runs `kubectl --kubeconfig <kubeconfig> --cache-dir <home>/cache <args…>`; never rejects on
 * a non-zero exit (the code is in the result).
 */
export function runKubectl(o: { kubeconfig?: string; home: string; timeoutMs?: number; stdin?: string }, args: string[]): Promise<KubectlResult> {
  const argv = [...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : []), '--cache-dir', join(o.home, 'cache'), ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(KUBECTL_BIN, argv, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: o.home },
      timeout: o.timeoutMs ?? 90_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') { reject(err); return; }
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (o.stdin !== undefined) child.stdin?.end(o.stdin);
  });
}
