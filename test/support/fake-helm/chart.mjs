/**
 * Charts for the FAKE `helm`: locating a chart folder (Helm's `LocateChart` for local paths),
 * loading it as Helm 3's loader does (Chart.yaml with its validation, values.yaml, every file of
 * templates/ as a template, the other files as `files`), and rendering it into a release
 * manifest. Templating itself is the shared FAKE renderer (../chart-render.ts: `.Values.*`,
 * `.Release.Name`, `.Release.Namespace`, `| quote`); around it this file does what Helm's
 * `renderResources` does: values coalesced over the chart's defaults, templates visited in path
 * order, documents split on `---`, partials and empty documents skipped, manifests sorted by
 * kind in Helm's install order, each written as `---\n# Source: <chart>/templates/<file>\n…`,
 * and templates/NOTES.txt rendered into the release notes.
 *
 * Not supported (an error says so): packaged (.tgz) or repository charts, dependencies
 * (`charts/`), partials (`_*.tpl`), hooks (`helm.sh/hook`), values.schema.json validation.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { delimiter, isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { HelmError, wrap } from './errors.mjs';

/** Helm's install order of kinds (pkg/releaseutil/kind_sorter.go `InstallOrder`). */
export const INSTALL_ORDER = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget',
  'ServiceAccount', 'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim',
  'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role',
  'RoleList', 'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet',
  'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
];

/** Helm's uninstall order (`UninstallOrder`). */
export const UNINSTALL_ORDER = [
  'APIService', 'Ingress', 'IngressClass', 'Service', 'CronJob', 'Job', 'StatefulSet', 'HorizontalPodAutoscaler', 'Deployment',
  'ReplicaSet', 'ReplicationController', 'Pod', 'DaemonSet', 'RoleBindingList', 'RoleBinding', 'RoleList', 'Role',
  'ClusterRoleBindingList', 'ClusterRoleBinding', 'ClusterRoleList', 'ClusterRole', 'CustomResourceDefinition',
  'PersistentVolumeClaim', 'PersistentVolume', 'StorageClass', 'ConfigMap', 'SecretList', 'Secret', 'ServiceAccount',
  'PodDisruptionBudget', 'PodSecurityPolicy', 'LimitRange', 'ResourceQuota', 'NetworkPolicy', 'Namespace', 'PriorityClass',
];

/** Helm's `sortManifestsByKind`: stable; unknown kinds last, alphabetically among themselves. */
export function sortByKind(items, order, kindOf) {
  const rank = new Map(order.map((k, i) => [k, i]));
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => {
      const ka = kindOf(a.item);
      const kb = kindOf(b.item);
      const ra = rank.get(ka);
      const rb = rank.get(kb);
      if (ra === undefined && rb === undefined) return ka !== kb ? (ka < kb ? -1 : 1) : a.i - b.i;
      if (ra === undefined) return 1;
      if (rb === undefined) return -1;
      return ra - rb || a.i - b.i;
    })
    .map((x) => x.item);
}

/** Helm's `LocateChart` for a local chart: the absolute folder, or Helm's error. */
export function locateChart(name) {
  const trimmed = name.trim();
  if (existsSync(trimmed)) {
    const abs = resolve(trimmed);
    if (!statSync(abs).isDirectory()) throw new HelmError(`the fake helm loads only chart folders, not the file ${JSON.stringify(trimmed)}`);
    return abs;
  }
  if (isAbsolute(trimmed) || trimmed.startsWith('.')) throw new HelmError(`path ${JSON.stringify(trimmed)} not found`);
  throw new HelmError(`the fake helm loads only local chart folders, not the repository chart ${JSON.stringify(trimmed)}`);
}

function walk(root, dir = root) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(root, p));
    else if (e.isFile()) out.push(relative(root, p).split('\\').join('/'));
  }
  return out;
}

/** Masterminds/semver's loose versions (`1`, `1.2`, `v1.2.3-rc.1+build`). */
const SEMVER = /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/;

/** Helm's `sanitizeString`: whitespace becomes a space, unprintable characters go. */
const sanitize = (s) => (typeof s === 'string' ? s.replace(/\s/g, ' ').replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}]/gu, '') : s);
const strOrUndef = (v) => (v === undefined || v === null ? undefined : sanitize(String(v)));
const strList = (v) => (Array.isArray(v) ? v.map((x) => sanitize(String(x))) : undefined);

function loadMetadata(text) {
  let m;
  try {
    m = parseYaml(text) ?? {};
  } catch (err) {
    throw wrap(new HelmError(`error converting YAML to JSON: ${err.message}`), 'cannot load Chart.yaml');
  }
  if (typeof m !== 'object' || Array.isArray(m)) throw new HelmError('cannot load Chart.yaml: error unmarshaling JSON: json: cannot unmarshal into Go value of type chart.Metadata');
  const md = {
    name: strOrUndef(m.name),
    home: strOrUndef(m.home),
    sources: strList(m.sources),
    version: strOrUndef(m.version),
    description: strOrUndef(m.description),
    keywords: strList(m.keywords),
    maintainers: Array.isArray(m.maintainers) ? m.maintainers.map((x) => ({ name: strOrUndef(x?.name), email: strOrUndef(x?.email), url: strOrUndef(x?.url) })) : undefined,
    icon: strOrUndef(m.icon),
    // Helm 2 charts may omit it; the loader then assumes v1.
    apiVersion: strOrUndef(m.apiVersion) || 'v1',
    condition: strOrUndef(m.condition),
    tags: strOrUndef(m.tags),
    appVersion: strOrUndef(m.appVersion),
    deprecated: m.deprecated === true,
    annotations: m.annotations && typeof m.annotations === 'object' ? Object.fromEntries(Object.entries(m.annotations).map(([k, v]) => [k, String(v)])) : undefined,
    kubeVersion: strOrUndef(m.kubeVersion),
    type: strOrUndef(m.type),
  };
  if (Array.isArray(m.dependencies) && m.dependencies.length > 0) throw new HelmError('the fake helm does not support chart dependencies (Chart.yaml dependencies)');
  if (!md.name) throw new HelmError('validation: chart.metadata.name is required');
  if (md.name === '.' || md.name === '..') throw new HelmError(`validation: chart.metadata.name ${JSON.stringify(md.name)} is not allowed`);
  if (md.name.includes('/')) throw new HelmError(`validation: chart.metadata.name ${JSON.stringify(md.name)} is invalid`);
  if (!md.version) throw new HelmError('validation: chart.metadata.version is required');
  if (!SEMVER.test(md.version)) throw new HelmError(`validation: chart.metadata.version ${JSON.stringify(md.version)} is invalid`);
  if (md.type && md.type !== 'application' && md.type !== 'library') throw new HelmError('validation: chart.metadata.type must be application or library');
  return md;
}

/**
 * Helm's `loader.LoadDir` for a chart folder: `{ metadata, values, templates, files, schema }`
 * in the release's JSON shape (file data base64), plus `sources` (template name → text).
 */
export function loadChart(dir) {
  const chart = { metadata: undefined, values: null, templates: [], files: [], schema: null, sources: new Map() };
  for (const name of walk(dir)) {
    const data = readFileSync(join(dir, name));
    // Helm's default .helmignore rule.
    if (/^templates\/\.[^/]*$/.test(name)) continue;
    if (name === 'Chart.yaml') chart.metadata = loadMetadata(data.toString('utf8'));
    else if (name === 'values.yaml') {
      let v;
      try {
        v = parseYaml(data.toString('utf8')) ?? {};
      } catch (err) {
        throw wrap(new HelmError(`error converting YAML to JSON: ${err.message}`), 'cannot load values.yaml');
      }
      if (typeof v !== 'object' || Array.isArray(v)) throw new HelmError('cannot load values.yaml: error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {}');
      chart.values = v;
    } else if (name === 'values.schema.json') chart.schema = data.toString('base64');
    else if (name.startsWith('charts/') || name === 'requirements.yaml' || name === 'Chart.lock' || name === 'requirements.lock') {
      throw new HelmError(`the fake helm does not support chart dependencies (${name})`);
    } else if (name.startsWith('templates/')) {
      chart.templates.push({ name, data: data.toString('base64') });
      chart.sources.set(name, data.toString('utf8'));
    } else chart.files.push({ name, data: data.toString('base64') });
  }
  if (!chart.metadata) throw new HelmError('Chart.yaml file is missing');
  return chart;
}

/** Helm's `CheckIfInstallable`. */
export function checkInstallable(chart) {
  const t = chart.metadata.type;
  if (t !== undefined && t !== '' && t !== 'application') throw new HelmError(`${t} charts are not installable`);
}

let renderer;

/** The shared FAKE chart renderer, a TypeScript module loaded through ./ts-hooks.mjs. */
function chartRenderer() {
  renderer ??= (async () => {
    register('./ts-hooks.mjs', import.meta.url);
    return import('../chart-render.ts');
  })();
  return renderer;
}

/** Helm's `SplitManifests`: documents split on `---` lines, trimmed, empty ones dropped. */
export function splitManifests(text) {
  return text.trim().split(/(?:^|\s*\n)---\s*/).filter((d) => d !== '').map((d) => d.trim());
}

function isExecutableFile(p) {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Helm's `postrender.NewExec(binaryPath, args...)`: the binary resolved as `getFullPath` does
 * (Go's `exec.LookPath`: a name without a separator is searched on PATH, a path is checked as
 * it is, then made absolute). Throws Helm's `unable to find binary at …` when it is missing.
 */
export function postRenderer(binaryPath, args) {
  let found;
  if (binaryPath.includes('/')) {
    if (!isExecutableFile(binaryPath)) {
      const why = existsSync(binaryPath) ? 'permission denied' : 'no such file or directory';
      throw new HelmError(`unable to find binary at ${binaryPath}: exec: ${JSON.stringify(binaryPath)}: stat ${binaryPath}: ${why}`);
    }
    found = binaryPath;
  } else {
    found = (process.env.PATH ?? '').split(delimiter).map((d) => join(d === '' ? '.' : d, binaryPath)).find(isExecutableFile);
    if (!found) throw new HelmError(`unable to find binary at ${binaryPath}: exec: ${JSON.stringify(binaryPath)}: executable file not found in $PATH`);
  }
  return { binaryPath: resolve(found), args: [...args] };
}

/**
 * Helm's `execRender.Run`: runs the binary with its args (no shell), the rendered manifests on
 * its stdin; its stdout is the new manifest. A failure reads as Go's `errors.Wrapf(err, "error
 * while running command %s. error output:\n%s", …)` with the `*exec.ExitError` text
 * (`exit status 1`, `signal: killed`).
 */
function runPostRenderer(pr, input) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(pr.binaryPath, pr.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    // A renderer that exits without reading its input must not fail the write (Go ignores io.Copy's error).
    child.stdin.on('error', () => {});
    child.on('error', (e) => reject(new HelmError(`error while running command ${pr.binaryPath}. error output:\n: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) { resolvePromise(Buffer.concat(out).toString('utf8')); return; }
      const status = signal ? `signal: ${{ SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt' }[signal] ?? signal}` : `exit status ${code}`;
      reject(new HelmError(`error while running command ${pr.binaryPath}. error output:\n${Buffer.concat(err).toString('utf8')}: ${status}`));
    });
    child.stdin.end(input);
  });
}

/**
 * Renders a chart for a release (`config` over the chart's values) like Helm's
 * `renderResources`: `{ manifest, notes, resources }` where `resources` are the parsed objects
 * in install order, each with the template it came from. With a post-renderer (`postRenderer()`),
 * the joined manifest goes through it and its output, verbatim, is the release's manifest
 * (`resources` are then read back from that text, in its order).
 */
export async function renderRelease(chart, config, release, post) {
  const shared = await chartRenderer();
  const renderText = (...args) => {
    try { return shared.renderText(...args); } catch (err) { throw new HelmError(err.message); }
  };
  const values = shared.mergeValues(chart.values ?? {}, config ?? {});
  const chartName = chart.metadata.name;
  let notes = '';
  const manifests = [];
  for (const [name, text] of [...chart.sources].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const path = `${chartName}/${name}`;
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (name === 'templates/NOTES.txt') { notes = renderText(text, values, release, path); continue; }
    if (base.startsWith('_')) throw new HelmError(`the fake helm does not support partials (${path})`);
    if (!/\.(ya?ml|json)$/.test(base)) throw new HelmError(`the fake helm renders only *.yaml, *.yml and *.json templates and templates/NOTES.txt, not ${path}`);
    const rendered = renderText(text, values, release, path);
    if (rendered.trim() === '') continue;
    for (const content of splitManifests(rendered)) {
      let head;
      try {
        head = parseYaml(content);
      } catch (err) {
        throw new HelmError(`YAML parse error on ${path}: error converting YAML to JSON: ${err.message}`);
      }
      if (head?.metadata?.annotations?.['helm.sh/hook'] !== undefined) throw new HelmError(`the fake helm does not support hooks (helm.sh/hook in ${path})`);
      manifests.push({ source: path, content, object: head && typeof head === 'object' ? head : undefined });
    }
  }
  const sorted = sortByKind(manifests, INSTALL_ORDER, (m) => String(m.object?.kind ?? ''));
  const manifest = sorted.map((m) => `---\n# Source: ${m.source}\n${m.content}\n`).join('');
  if (post) {
    let rendered;
    try {
      rendered = await runPostRenderer(post, manifest);
    } catch (err) {
      throw wrap(err, 'error while running post render on files');
    }
    let objects;
    try {
      objects = manifestObjects(rendered);
    } catch (err) {
      throw new HelmError(`error converting YAML to JSON: ${err.message}`);
    }
    return { manifest: rendered, notes, resources: objects.map((object) => ({ source: '', content: '', object })) };
  }
  return { manifest, notes, resources: sorted.filter((m) => m.object?.kind !== undefined) };
}

/** The objects of a stored manifest (what Helm's `KubeClient.Build` reads back), in order. */
export function manifestObjects(manifest) {
  const out = [];
  for (const doc of splitManifests(manifest ?? '')) {
    const obj = parseYaml(doc);
    if (obj && typeof obj === 'object' && obj.kind !== undefined) out.push(obj);
  }
  return out;
}
