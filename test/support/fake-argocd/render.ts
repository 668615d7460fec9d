/**
 * Manifest generation of the FAKE Argo CD's repo server: the tree of a commit is extracted
 * into a temporary folder, then `source.path` is rendered either as a Helm chart (it holds a
 * `Chart.yaml`) with the shared fake renderer (`test/support/chart-render.ts`), or as a plain
 * folder of manifests (`*.yaml`, `*.yml`, `*.json`, not recursive — upstream's Directory type).
 *
 * `helm.valueFiles` are resolved as upstream's `ResolveValueFilePathOrUrl` does
 * (util/io/path/resolved.go): relative to the app path (so `../environments/dev-env/x.yaml`
 * reaches a sibling folder), a leading `/` meaning the repository root, symlinks followed, and
 * anything resolving outside the repository refused with
 * `file '<value file>' resolved to outside repository root`. A missing file is an error unless
 * `ignoreMissingValueFiles` is set. The release name is `helm.releaseName` or the app's name;
 * the release namespace is the destination namespace.
 *
 * Simplified: remote (http/https) value files, `helm.parameters`, `helm.values`, kustomize and
 * plugins are not supported; error texts name paths relative to the repository instead of
 * the repo server's temporary folder.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { renderChart } from '../chart-render.js';
import { extractTree } from './git.js';
import type { ApplicationSource, Obj } from './types.js';
import { isObj } from './types.js';

/** Manifest generation failed; the message is the repo server's. */
export class RenderError extends Error {
  override name = 'RenderError';
}

/** What a render produced. */
export interface Rendered {
  objects: Obj[];
  sourceType: 'Helm' | 'Directory';
}

/**
 * Resolves a value file to an absolute path inside `repoRoot`, as upstream does.
 *
 * @example resolveValueFile('/r/helm/accounts', '/r', '../environments/dev-env/image-tags.yaml')
 *          // → '/r/helm/environments/dev-env/image-tags.yaml'
 */
export function resolveValueFile(appPath: string, repoRoot: string, valueFile: string): string {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(valueFile);
  if (scheme) throw new RenderError(`the URL scheme '${scheme[1]}' is not allowed`);
  const root = resolve(repoRoot);
  const real = (p: string): string => { try { return realpathSync(p); } catch { return p; } };
  const roots = [root, real(root)];
  const path = real(isAbsolute(valueFile) ? join(root, valueFile) : join(resolve(appPath), valueFile));
  if (roots.includes(path)) throw new RenderError('internal error: failed to resolve path. Check logs for more details');
  if (!roots.some((r) => path.startsWith(r + sep))) throw new RenderError(`file '${valueFile}' resolved to outside repository root`);
  return path;
}

function parseDocs(text: string, file: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new RenderError(`failed to unmarshal ${file}: ${doc.errors[0].message}`);
    const v: unknown = doc.toJSON();
    if (v === null || v === undefined) continue;
    if (!isObj(v)) throw new RenderError(`failed to unmarshal ${file}: a manifest must be a map`);
    if (typeof v.apiVersion !== 'string' || typeof v.kind !== 'string') throw new RenderError(`${file}: Object 'Kind' is missing in '${JSON.stringify(v)}'`);
    out.push(v);
  }
  return out;
}

function renderHelm(root: string, appPath: string, source: ApplicationSource, release: { name: string; namespace: string }): Obj[] {
  const layers: Array<Record<string, unknown>> = [];
  const used: string[] = [];
  for (const vf of source.helm?.valueFiles ?? []) {
    const path = resolveValueFile(appPath, root, vf);
    if (!existsSync(path)) {
      if (source.helm?.ignoreMissingValueFiles) continue;
      const cmd = ['helm template .', `--name-template ${release.name}`, `--namespace ${release.namespace}`, ...[...used, relative(root, path)].map((u) => `--values ${u}`)].join(' ');
      throw new RenderError(`\`${cmd}\` failed exit status 1: Error: open ${relative(root, path)}: no such file or directory`);
    }
    used.push(relative(root, path));
    let parsed: unknown;
    try { parsed = parseYaml(readFileSync(path, 'utf8')); } catch (e) {
      throw new RenderError(`failed to parse ${relative(root, path)}: ${(e as Error).message}`);
    }
    if (parsed === null || parsed === undefined) continue;
    if (!isObj(parsed)) throw new RenderError(`failed to parse ${relative(root, path)}: error converting YAML to JSON: values must be a map`);
    layers.push(parsed);
  }
  let text: string;
  try {
    text = renderChart(appPath, layers, release);
  } catch (e) {
    throw new RenderError(`\`helm template .\` failed exit status 1: Error: ${(e as Error).message.split(root + sep).join('')}`);
  }
  return parseDocs(text, 'the rendered chart');
}

function renderDirectory(root: string, appPath: string): Obj[] {
  const files = readdirSync(appPath).filter((f) => /\.(ya?ml|json)$/.test(f) && statSync(join(appPath, f)).isFile()).sort();
  return files.flatMap((f) => parseDocs(readFileSync(join(appPath, f), 'utf8'), relative(root, join(appPath, f))));
}

/**
 * Renders `source.path` of commit `sha` of the bare repository `repo`.
 * Throws RenderError (or GitError) with the repo server's wording.
 */
export async function renderAt(repo: string, sha: string, source: ApplicationSource, release: { name: string; namespace: string }): Promise<Rendered> {
  const root = await mkdtemp(join(tmpdir(), 'fake-argocd-repo-'));
  try {
    await extractTree(repo, sha, root);
    const appPath = resolve(root, source.path === '' ? '.' : source.path);
    if (appPath !== root && !appPath.startsWith(root + sep)) throw new RenderError(`${source.path}: app path is outside of the repository`);
    if (!existsSync(appPath) || !statSync(appPath).isDirectory()) throw new RenderError(`${source.path}: app path does not exist`);
    if (existsSync(join(appPath, 'Chart.yaml'))) return { objects: renderHelm(root, appPath, source, release), sourceType: 'Helm' };
    return { objects: renderDirectory(root, appPath), sourceType: 'Directory' };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
