/**
 * Reading the cosign public key of `image.signature.publicKey`: load.ts reports what is wrong
 * with it as a problem, compile.ts puts the PEM text into the compiled config.
 */
import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { readRegularFileSync } from './files.js';
import { MAX_KEY_FILE_BYTES, formatBytes } from './limits.js';

/** A public key read for `image.signature.publicKey`, or why it cannot be used. */
export type PublicKeyResult = { ok: true; pem: string } | { ok: false; message: string; hint: string };

/**
 * Reads a cosign public key: `value` is PEM text itself (it holds `-----BEGIN`) or a path,
 * relative to `rootDir`, of a file holding it. Refuses private keys, which never belong in a
 * config, and anything Node cannot parse as a public key.
 *
 * @example
 * const key = readPublicKey('keys/cosign.pub', '/srv/shop');
 * if (key.ok) key.pem; // '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n'
 */
export function readPublicKey(value: string, rootDir: string): PublicKeyResult {
  const inline = value.includes('-----BEGIN');
  const what = inline ? 'the inline key' : value;
  let text = value;
  if (!inline) {
    const read = readRegularFileSync(resolve(rootDir, value), MAX_KEY_FILE_BYTES);
    if (!read.ok) {
      return {
        ok: false,
        message: `cannot read ${value}: ${read.reason}`,
        hint: read.refusal === 'too-large'
          ? `a PEM public key takes a few hundred bytes (at most ${formatBytes(MAX_KEY_FILE_BYTES)} are read): give the path of cosign.pub`
          : read.refusal === 'not-a-file' && read.reason !== 'is a folder, not a file'
            ? 'give the path of a regular file holding the cosign public key (cosign.pub), or the PEM text itself'
            : 'give the path of the cosign public key (cosign.pub) relative to the folder of gangway.yaml, or the PEM text itself',
      };
    }
    text = read.text;
  }
  const block = firstPemBlock(text);
  if (block && block[1].includes('PRIVATE KEY')) {
    return {
      ok: false,
      message: `${what} holds a private key`,
      hint: 'give the public key (cosign.pub); a private key does not belong next to the config',
    };
  }
  if (!block || !block[1].endsWith('PUBLIC KEY')) {
    return {
      ok: false,
      message: `${what} does not hold a PEM public key`,
      hint: 'a cosign public key starts with -----BEGIN PUBLIC KEY----- (cosign generate-key-pair writes it to cosign.pub)',
    };
  }
  try {
    createPublicKey(block[0]);
  } catch {
    return {
      ok: false,
      message: `${what} holds a PEM block that is not a valid public key`,
      hint: 'export the key again with cosign public-key --key <private key> > cosign.pub',
    };
  }
  return { ok: true, pem: `${block[0]}\n` };
}

/**
 * The first `-----BEGIN L-----` … `-----END L-----` block of `text` and its label `L`, found in
 * one pass over the text (a backtracking pattern would retry the rest of the text at every
 * BEGIN that has no END).
 */
function firstPemBlock(text: string): [block: string, label: string] | undefined {
  const ends = new Map<string, number[]>();
  for (const m of text.matchAll(/-----END ([A-Z0-9 ]+)-----/g)) {
    const list = ends.get(m[1]) ?? [];
    list.push(m.index);
    ends.set(m[1], list);
  }
  // Per label, the first END not before the BEGIN being looked at; BEGINs come in text order.
  const next = new Map<string, number>();
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)) {
    const list = ends.get(m[1]);
    if (!list) continue;
    let k = next.get(m[1]) ?? 0;
    while (k < list.length && list[k] < m.index + m[0].length) k++;
    next.set(m[1], k);
    if (k < list.length) return [text.slice(m.index, list[k] + `-----END ${m[1]}-----`.length), m[1]];
  }
  return undefined;
}
