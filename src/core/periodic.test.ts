import { describe, expect, it } from 'vitest';
import { periodic } from './periodic.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('periodic', () => {
  it('runs at once, then again after each run ends, never two at a time; stop waits for the run in progress', async () => {
    const log: string[] = [];
    let release!: () => void;
    let active = 0;
    let most = 0;
    const p = periodic(async () => {
      active++;
      most = Math.max(most, active);
      log.push('run');
      await new Promise<void>((r) => { release = r; });
      active--;
    }, 0, () => undefined);
    p.start();
    p.start();
    expect(log).toEqual(['run']);
    await tick();
    expect(log).toEqual(['run']); // the first run has not ended: no second one
    release();
    for (let i = 0; i < 5 && log.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['run', 'run']);
    let stopped = false;
    const stopping = p.stop().then(() => { stopped = true; });
    await tick();
    expect(stopped).toBe(false); // waits for the run in progress
    release();
    await stopping;
    expect([stopped, p.running, most]).toEqual([true, false, 1]);
    await new Promise((r) => setTimeout(r, 10));
    expect(log).toEqual(['run', 'run']); // nothing after stop
  });

  it('reports a failed run and goes on', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const p = periodic(async () => {
      runs++;
      if (runs === 1) throw new Error('boom');
    }, 0, (err) => errors.push(err));
    p.start();
    for (let i = 0; i < 20 && runs < 3; i++) await new Promise((r) => setTimeout(r, 5));
    await p.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
  });
});
