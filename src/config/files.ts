/**
 * Reading the files a config consists of or names (the config itself, a signature key) with a
 * size limit, regular files only. The file is opened without blocking and checked through its
 * handle, so a named pipe, a device such as /dev/zero, or a file swapped for one after a check,
 * is refused instead of blocking forever or being read without end.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { formatBytes } from './limits.js';

/** Why a file was not read: it is not there, is not a regular file, is over the limit, or reading failed. */
export type FileRefusal = 'missing' | 'not-a-file' | 'too-large' | 'unreadable';

/** A file's text, or why it was not read (`reason` completes "cannot read <file>: …"). */
export type FileText = { ok: true; text: string } | { ok: false; refusal: FileRefusal; reason: string };

// Opening a named pipe for reading blocks until a writer appears, unless it is non-blocking.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Reads a regular file of at most `limit` bytes as UTF-8.
 *
 * @example
 * const key = readRegularFileSync('/srv/shop/keys/cosign.pub', 64 * 1024);
 * if (!key.ok) key.reason; // 'is a named pipe, not a regular file'
 */
export function readRegularFileSync(path: string, limit: number): FileText {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
  try {
    const refused = refusal(fstatSync(fd), limit);
    if (refused) return refused;
    const buffer = Buffer.allocUnsafe(limit + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length <= limit;) {
      n = readSync(fd, buffer, length, buffer.length - length, null);
      length += n;
    }
    return decoded(buffer, length, limit);
  } catch (err) {
    return { ok: false, refusal: 'unreadable', reason: (err as Error).message };
  } finally {
    closeSync(fd);
  }
}

/** {@link readRegularFileSync} without blocking the event loop. */
export async function readRegularFile(path: string, limit: number): Promise<FileText> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
  try {
    const refused = refusal(await handle.stat(), limit);
    if (refused) return refused;
    const buffer = Buffer.allocUnsafe(limit + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length <= limit;) {
      ({ bytesRead: n } = await handle.read(buffer, length, buffer.length - length, null));
      length += n;
    }
    return decoded(buffer, length, limit);
  } catch (err) {
    return { ok: false, refusal: 'unreadable', reason: (err as Error).message };
  } finally {
    await handle.close();
  }
}

function openFailure(err: unknown): FileText {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, refusal: 'missing', reason: 'no such file' };
  if (code === 'EISDIR') return { ok: false, refusal: 'not-a-file', reason: 'is a folder, not a file' };
  // A Unix socket cannot be opened as a file at all.
  if (code === 'ENXIO') return { ok: false, refusal: 'not-a-file', reason: 'is a socket, not a regular file' };
  if (code === 'EACCES') return { ok: false, refusal: 'unreadable', reason: 'permission denied' };
  return { ok: false, refusal: 'unreadable', reason: (err as Error).message };
}

function refusal(stat: Stats, limit: number): FileText | undefined {
  if (stat.isDirectory()) return { ok: false, refusal: 'not-a-file', reason: 'is a folder, not a file' };
  if (!stat.isFile()) return { ok: false, refusal: 'not-a-file', reason: `is ${kindOf(stat)}, not a regular file` };
  if (stat.size > limit) return { ok: false, refusal: 'too-large', reason: tooLarge(stat.size, limit) };
  return undefined;
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'a special file';
}

function tooLarge(size: number, limit: number): string {
  return `is ${formatBytes(size)} (${size} bytes); the limit is ${formatBytes(limit)}`;
}

function decoded(buffer: Buffer, length: number, limit: number): FileText {
  // The file grew after it was measured.
  if (length > limit) return { ok: false, refusal: 'too-large', reason: `is more than ${formatBytes(limit)}, the limit` };
  return { ok: true, text: buffer.toString('utf8', 0, length) };
}
