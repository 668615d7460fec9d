/**
 * A small file system that a test can fill: a tmpfs of a given size mounted on a folder (needs
 * root, or CAP_SYS_ADMIN, and the `mount` and `umount` commands). Where mounting is not
 * permitted the suite is skipped loudly (a failure under `GANGWAY_REQUIRE_ALL=1`, see
 * ./require.ts).
 *
 * @example
 * ```ts
 * const disk = await smallDiskOrSkip('disk-full tests', join(dir, '.gangway'), 16 << 20);
 * afterAll(() => disk?.unmount());
 * await disk!.fill();   // every free block taken
 * await disk!.free();   // the filler removed
 * ```
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, rmdirSync, statfsSync, writeSync, unlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeOrSkip } from './require.js';

export interface SmallDisk {
  readonly dir: string;
  /** Bytes still free for an unprivileged writer. */
  available(): number;
  /** Takes every free block with a filler file (written until ENOSPC); returns its size. */
  fill(): number;
  /** Removes the filler file. */
  free(): void;
  /** Unmounts (lazily: files still open keep the memory until closed). Idempotent. */
  unmount(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _out, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

/** Mounts a tmpfs of `bytes` on `dir` (created when missing). Throws when mounting is not permitted. */
export async function mountSmallDisk(dir: string, bytes: number): Promise<SmallDisk> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  let mounted = true;
  return {
    dir,
    available: () => { const s = statfsSync(dir); return s.bavail * s.bsize; },
    fill() {
      const fd = openSync(filler, 'a');
      const block = Buffer.alloc(64 * 1024, 1);
      let written = 0;
      try {
        for (;;) {
          try {
            written += writeSync(fd, block);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            // The last partial block, byte by byte shorter, until not one byte fits.
            let size = block.length >> 1;
            while (size > 0) {
              try { written += writeSync(fd, block.subarray(0, size)); } catch { size >>= 1; }
            }
            return written;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      if (existsSync(filler)) unlinkSync(filler);
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', ['-l', dir]);
    },
  };
}

/**
 * `mountSmallDisk()` after a probe that mounting is permitted here, or undefined after a loud
 * SKIPPED message (a thrown error under `GANGWAY_REQUIRE_ALL=1`).
 */
export function smallDiskOrSkip(what: string): Promise<true | undefined> {
  return probeOrSkip(what, 'permission to mount a tmpfs (root or CAP_SYS_ADMIN) and the mount/umount commands', async () => {
    const probe = mkdtempSync(join(tmpdir(), 'gangway-mount-probe-'));
    try {
      const disk = await mountSmallDisk(probe, 1 << 20);
      await disk.unmount();
      return true as const;
    } finally {
      try { rmdirSync(probe); } catch { rmSync(probe, { recursive: true, force: true }); }
    }
  });
}
