/**
 * Module hooks that let the FAKE `helm` (plain Node, no build step) import the shared TypeScript
 * chart renderer (../chart-render.ts): a `.ts` file is loaded with its types stripped by the
 * transformer vite already brings (rolldown's oxc transform), or TypeScript's `transpileModule`
 * when that is missing; a relative `./x.js` import resolves to `./x.ts` when only that exists.
 * Stripped sources are cached by content hash in a 0700 folder under the temp directory
 * (`FAKE_HELM_CACHE_DIR` overrides it), so later runs skip loading the transformer.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDir = process.env.FAKE_HELM_CACHE_DIR ?? join(tmpdir(), `fake-helm-ts-${process.getuid?.() ?? 'user'}`);

export async function resolve(specifier, context, next) {
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const ts = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    if (!existsSync(new URL(specifier, context.parentURL)) && existsSync(ts)) return { url: ts.href, shortCircuit: true };
  }
  return next(specifier, context);
}

async function strip(file, source) {
  try {
    const { transform } = await import('rolldown/experimental');
    const out = await transform(file, source, {});
    if (out.errors.length > 0) throw new Error(out.errors.map((e) => e.message).join('\n'));
    return out.code;
  } catch (err) {
    if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    const ts = (await import('typescript')).default;
    return ts.transpileModule(source, { fileName: file, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true } }).outputText;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const cached = join(cacheDir, `${createHash('sha256').update(file).update('\0').update(source).digest('hex')}.js`);
  let code;
  try {
    code = await readFile(cached, 'utf8');
  } catch {
    code = await strip(file, source);
    try {
      await mkdir(cacheDir, { recursive: true, mode: 0o700 });
      const tmp = `${cached}.${process.pid}.tmp`;
      await writeFile(tmp, code, { mode: 0o600 });
      await rename(tmp, cached);
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
  return { format: 'module', source: code, shortCircuit: true };
}
