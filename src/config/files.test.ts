import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRegularFile, readRegularFileSync } from './files.js';

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'gangway-files-'));
}

describe('readRegularFile and readRegularFileSync', () => {
  for (const [name, read] of [
    ['sync', async (path: string, limit: number) => readRegularFileSync(path, limit)],
    ['async', readRegularFile],
  ] as const) {
    it(`${name}: reads a regular file up to the limit, and refuses one over it naming both sizes`, async () => {
      const dir = folder();
      writeFileSync(join(dir, 'ok.txt'), 'héllo');
      writeFileSync(join(dir, 'big.txt'), 'x'.repeat(2048));
      expect(await read(join(dir, 'ok.txt'), 6)).toEqual({ ok: true, text: 'héllo' });
      expect(await read(join(dir, 'big.txt'), 1024)).toEqual({ ok: false, refusal: 'too-large', reason: 'is 2 KiB (2048 bytes); the limit is 1 KiB' });
    });

    it(`${name}: refuses a named pipe at once instead of waiting for a writer`, async () => {
      const fifo = join(folder(), 'pipe');
      execFileSync('mkfifo', [fifo]);
      expect(await read(fifo, 1024)).toEqual({ ok: false, refusal: 'not-a-file', reason: 'is a named pipe, not a regular file' });
    });

    it(`${name}: refuses a device that never ends, a folder, a socket and a missing file`, async () => {
      const dir = folder();
      mkdirSync(join(dir, 'sub'));
      expect(await read('/dev/zero', 1024)).toEqual({ ok: false, refusal: 'not-a-file', reason: 'is a character device, not a regular file' });
      expect(await read(join(dir, 'sub'), 1024)).toEqual({ ok: false, refusal: 'not-a-file', reason: 'is a folder, not a file' });
      expect(await read(join(dir, 'none'), 1024)).toEqual({ ok: false, refusal: 'missing', reason: 'no such file' });
      const socket = join(dir, 'sock');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      try {
        expect(await read(socket, 1024)).toEqual({ ok: false, refusal: 'not-a-file', reason: 'is a socket, not a regular file' });
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }
});
