/**
 * The executable's ending (src/cli/exit.ts): a process that has finished its work and meets a
 * stream of Ctrl-Cs while it ends exits with its own code, never by the signal. Runs the built
 * module (dist/, made by `npm test`'s build) in child processes, as `bin/gangway.js` does.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../../test/support/gangway.js';

const EXIT_MODULE = pathToFileURL(join(ROOT, 'dist/cli/exit.js')).href;

/**
 * A child that ignores Ctrl-C while it works (as a command does during its clean-up), finishes
 * after 30 ms with code 7, and is sent SIGINT every millisecond until it is gone.
 */
function endUnderCtrlC(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const script = `
    import { exitWhenDone } from ${JSON.stringify(EXIT_MODULE)};
    process.on('SIGINT', () => {});
    process.stdout.write('ready\\n');
    exitWhenDone(new Promise((r) => setTimeout(() => r(7), 30)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    child.stdout.once('data', () => {
      timer = setInterval(() => { try { child.kill('SIGINT'); } catch { /* gone */ } }, 1);
    });
    child.once('exit', (code, signal) => { clearInterval(timer); resolve({ code, signal }); });
  });
}

describe('exitWhenDone', () => {
  it('exits with the command\'s code however many Ctrl-Cs arrive while the process ends', async () => {
    // Letting the loop drain instead was killed by SIGINT in 40 of 40 such runs on this machine.
    const ends = [];
    for (let i = 0; i < 12; i++) ends.push(await endUnderCtrlC());
    expect(ends).toEqual(Array.from({ length: 12 }, () => ({ code: 7, signal: null })));
  }, 60_000);
});
