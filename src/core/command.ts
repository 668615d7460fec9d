/**
 * Runs a command for a smoke check, a custom gate check or a migration step: argv without a
 * shell (user strings never reach one), output captured and bounded, and the command's own
 * failure returned as data, since a failing check is an expected outcome.
 */
import { spawn } from 'node:child_process';

/** Output kept beyond this is dropped: it goes into records and events, which stay small. */
const OUTPUT_LIMIT = 16 * 1024;

/** What a command came to. `detail` is `exit 0`, `exit code N: <last output line>`, `killed by SIG…`, `timed out after N ms`, `aborted` or why it did not start. */
export interface CommandResult {
  ok: boolean;
  detail: string;
  /** Combined stdout and stderr, first 16 KiB. */
  output: string;
}

/**
 * Runs argv without a shell; captures combined output (bounded). Never throws for the
 * command's own failure; kills it on timeout or when `signal` aborts.
 *
 * @example
 * const r = await runCommand(['sh', '-c', 'echo hi; exit 3'], '/tmp', 5000, AbortSignal.timeout(10_000), {});
 * // r.ok === false, r.detail === 'exit code 3: hi', r.output === 'hi\n'
 */
export function runCommand(argv: string[], cwd: string, timeoutMs: number, signal: AbortSignal, env: Record<string, string>): Promise<CommandResult> {
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const done = (r: { ok: boolean; detail: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve({ ...r, output });
    };
    const child = spawn(argv[0], argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (b: Buffer) => { if (output.length < OUTPUT_LIMIT) output += b.toString('utf8').slice(0, OUTPUT_LIMIT - output.length); };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => { child.kill('SIGKILL'); done({ ok: false, detail: `timed out after ${timeoutMs} ms` }); }, timeoutMs);
    const onAbort = () => { child.kill('SIGKILL'); done({ ok: false, detail: 'aborted' }); };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      done({ ok: false, detail: err.code === 'ENOENT' ? `command not found: ${argv[0]} (cwd ${cwd})` : `could not run ${argv[0]}: ${err.message}` });
    });
    child.on('close', (code, sig) => {
      done(code === 0 ? { ok: true, detail: 'exit 0' } : { ok: false, detail: sig ? `killed by ${sig}` : `exit code ${code}${output ? `: ${lastLine(output)}` : ''}` });
    });
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1].slice(0, 200);
}
