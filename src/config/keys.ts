/**
 * Reading the cosign public key of `image.signature.publicKey`: load.ts reports what is wrong
 * with it as a problem, compile.ts puts the PEM text into the compiled config.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/;

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
    try {
      text = readFileSync(resolve(rootDir, value), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        ok: false,
        message: `cannot read ${value}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : (err as Error).message}`,
        hint: 'give the path of the cosign public key (cosign.pub) relative to the folder of gangway.yaml, or the PEM text itself',
      };
    }
  }
  const block = PEM_BLOCK.exec(text);
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
