// What the benches that compile TypeScript themselves share: is a build older than its sources?
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The newest modification time (ms) of the files under dir whose names pass filter, 0 when none. */
export function newestMtime(dir, filter) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p, filter));
    else if (filter(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** A TypeScript source file that is not a test. */
export const isSource = (f) => f.endsWith('.ts') && !f.endsWith('.test.ts');
