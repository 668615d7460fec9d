import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCommand } from './command.js';

const never = new AbortController().signal;

describe('runCommand', () => {
  it('runs argv without a shell, with the extra env, and reports exit 0 with the output', async () => {
    const r = await runCommand(['node', '-e', 'console.log(process.argv[1], process.env.GREETING)', '$HOME; echo no shell'], tmpdir(), 10_000, never, { GREETING: 'hi' });
    expect(r).toEqual({ ok: true, detail: 'exit 0', output: '$HOME; echo no shell hi\n' });
  });

  it('returns a failing exit code with the last output line (stderr too) as data', async () => {
    const r = await runCommand(['sh', '-c', 'echo first >&2; echo hi >&2; exit 3'], tmpdir(), 10_000, never, {});
    expect(r).toEqual({ ok: false, detail: 'exit code 3: hi', output: 'first\nhi\n' });
  });

  it('keeps the first 16 KiB of output', async () => {
    const r = await runCommand(['node', '-e', 'process.stdout.write("x".repeat(40000))'], tmpdir(), 10_000, never, {});
    expect(r.ok).toBe(true);
    expect(r.output).toBe('x'.repeat(16 * 1024));
  });

  it('names a program that is not there, and kills one that outlives its timeout or an abort', async () => {
    expect(await runCommand(['gangway-no-such-program'], tmpdir(), 10_000, never, {})).toEqual({
      ok: false, detail: `command not found: gangway-no-such-program (cwd ${tmpdir()})`, output: '',
    });
    expect((await runCommand(['sleep', '30'], tmpdir(), 200, never, {})).detail).toBe('timed out after 200 ms');
    const ac = new AbortController();
    const aborted = runCommand(['sleep', '30'], tmpdir(), 10_000, ac.signal, {});
    ac.abort();
    expect(await aborted).toEqual({ ok: false, detail: 'aborted', output: '' });
  });
});
