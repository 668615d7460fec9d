/**
 * runHelm's early stop: given a FAKE helm (a Node script run by argv) that, like Helm 3, records
 * its revision as failed when it gets SIGTERM and only then exits, when the run is stopped, then
 * the promise settles only after the process has exited — the record is written by then, so the
 * next helm run (a rollback) finds the release free.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HelmCommandError, runHelm } from './helm-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-helm-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fake: writes `started`, waits; on SIGTERM waits 300 ms more, writes `recorded`, prints Helm's error and exits 1. */
function fakeHelm(): string {
  const file = join(dir, 'slow-helm');
  writeFileSync(file, `#!${process.execPath}
const { writeFileSync } = require('node:fs');
process.on('SIGTERM', () => {
  process.stdout.write('Release web has been cancelled.\\n');
  setTimeout(() => {
    writeFileSync(${JSON.stringify(join(dir, 'recorded'))}, 'failed: context canceled');
    process.stderr.write('Error: UPGRADE FAILED: context canceled\\n');
    process.exit(1);
  }, 300);
});
writeFileSync(${JSON.stringify(join(dir, 'started'))}, '');
setInterval(() => {}, 1000);
`);
  chmodSync(file, 0o755);
  return file;
}

describe('runHelm with stop', () => {
  it('sends SIGTERM and settles only once helm has exited, with its stderr', async () => {
    const stop = new AbortController();
    const run = runHelm(fakeHelm(), ['upgrade', '--install', 'web', './chart', '--wait'], { limitMs: 120_000, stop: stop.signal });
    const outcome: Promise<{ err: unknown; recordedWhenSettled: boolean } | null> = run.then(() => null, (err: unknown) => ({ err, recordedWhenSettled: existsSync(join(dir, 'recorded')) }));
    for (let i = 0; !existsSync(join(dir, 'started')); i++) {
      if (i > 1200) throw new Error('the fake helm did not start within a minute');
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.abort();
    const got = await outcome;
    if (got === null) throw new Error('a stopped helm resolved');
    expect(got.recordedWhenSettled).toBe(true);
    expect(readFileSync(join(dir, 'recorded'), 'utf8')).toBe('failed: context canceled');
    expect(got.err).toBeInstanceOf(HelmCommandError);
    expect(got.err).toMatchObject({ message: 'helm upgrade was stopped: Error: UPGRADE FAILED: context canceled', stderr: 'Error: UPGRADE FAILED: context canceled', exitCode: 1 });
  });
});
