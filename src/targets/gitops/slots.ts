/**
 * Blue-green and canary on the GitOps target, by keys the chart exposes (see
 * docs/targets/gitops.md): the engine's steps (`scale`, `traffic`) become edits of those keys,
 * each a commit that Argo CD syncs. This file is the pure half: which keys a service's strategy
 * uses, what a values file says about the slots, and which keys a step writes (nothing when Git
 * holds them already, so a repeated step makes no second commit). The target does the Git and
 * Argo CD work and the waiting (gitops-target.ts).
 */
import type { GitOpsBlueGreenConfig, GitOpsCanaryConfig, GitOpsTargetConfig } from '../../config/helm.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { redact } from '../../git/runner.js';
import { readValue } from './values-file.js';

/** How a service's releases are laid out in Git: the one `key` (rolling), two slots, or a stable and a canary. */
export type SlotMode =
  | { kind: 'rolling' }
  | { kind: 'blueGreen'; bg: GitOpsBlueGreenConfig }
  | { kind: 'canary'; canary: GitOpsCanaryConfig };

export type Slot = 'blue' | 'green';
export const SLOTS: readonly Slot[] = ['blue', 'green'];

/**
 * The layout a service uses: the blue-green keys with `strategy.blueGreen`, the canary keys with
 * `strategy.canary`, else the rolling `key` (also when the keys are not configured; the
 * capability check then refuses the strategy).
 *
 * @example slotMode({ ...cfg, strategy: { kind: 'canary', … } }, target).kind // 'canary' when target.gitops.canary is set
 */
export function slotMode(cfg: Pick<ServiceEnvConfig, 'strategy'>, t: Pick<GitOpsTargetConfig, 'blueGreen' | 'canary'>): SlotMode {
  if (cfg.strategy.kind === 'blueGreen' && t.blueGreen) return { kind: 'blueGreen', bg: t.blueGreen };
  if (cfg.strategy.kind === 'canary' && t.canary) return { kind: 'canary', canary: t.canary };
  return { kind: 'rolling' };
}

/** The keys a layout reads and writes in the values file, in a fixed order. */
export function watchedKeys(mode: SlotMode, key: string): string[] {
  switch (mode.kind) {
    case 'rolling': return [key];
    case 'blueGreen': return [mode.bg.activeKey, mode.bg.tagKeys.blue, mode.bg.tagKeys.green, ...(mode.bg.previewKey ? [mode.bg.previewKey] : [])];
    case 'canary': {
      const c = mode.canary;
      return [key, c.tagKey, c.replicasKey, ...(c.weightKey ? [c.weightKey] : []), ...(c.stableWeightKey ? [c.stableWeightKey] : [])];
    }
  }
}

/** The watched keys' values in a file's text (null for an empty value). Throws GitOpsError for a missing key. */
export function readKeys(text: string, file: string, keys: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const k of keys) out[k] = readValue(text, file, k);
  return out;
}

/** What the blue-green keys say. */
export interface BlueGreenState { active: Slot; tags: Record<Slot, string | null> }

/**
 * Reads the blue-green keys; an `activeKey` other than blue or green is an error naming it.
 *
 * @example blueGreenState(bg, { active: 'blue', 'blue.tag': '1.0.0', 'green.tag': null }, 'values.yaml') // { active: 'blue', tags: { blue: '1.0.0', green: null } }
 */
export function blueGreenState(bg: GitOpsBlueGreenConfig, values: Record<string, string | null>, file: string): BlueGreenState {
  const active = values[bg.activeKey];
  if (active !== 'blue' && active !== 'green') {
    throw new GangwayError('invalid_argument', `${bg.activeKey} in ${file} is ${active === null ? 'empty' : JSON.stringify(redact(active))}, not blue or green (target.gitops.blueGreen.activeKey)`,
      `set ${bg.activeKey}: blue in ${file} (the slot that serves now) and deploy again`);
  }
  return { active, tags: { blue: values[bg.tagKeys.blue] ?? null, green: values[bg.tagKeys.green] ?? null } };
}

export function otherSlot(s: Slot): Slot {
  return s === 'blue' ? 'green' : 'blue';
}

/** What the canary keys say. */
export interface CanaryState { stable: string | null; canary: string | null; replicas: number; weight: number }

/**
 * Reads the canary keys; replicas and weight must be whole numbers (weight 0–100).
 *
 * @example canaryState(c, 'image.tag', { 'image.tag': '1.0.0', 'canary.tag': '1.1.0', 'canary.replicas': '1', 'canary.weight': '25' }, 'v.yaml')
 * // { stable: '1.0.0', canary: '1.1.0', replicas: 1, weight: 25 }
 */
export function canaryState(c: GitOpsCanaryConfig, key: string, values: Record<string, string | null>, file: string): CanaryState {
  const int = (k: string, max: number): number => {
    const v = values[k] ?? '0';
    const n = /^\d{1,4}$/.test(v) ? Number(v) : NaN;
    if (!(n <= max)) {
      throw new GangwayError('invalid_argument', `${k} in ${file} is ${JSON.stringify(redact(v))}, not a whole number from 0 to ${max}`, `set ${k}: 0 in ${file} and deploy again`);
    }
    return n;
  };
  return { stable: values[key] ?? null, canary: values[c.tagKey] ?? null, replicas: int(c.replicasKey, 1000), weight: c.weightKey ? int(c.weightKey, 100) : 0 };
}

/** Keys to write in one commit, with the commit's first line and its step word (a trailer). */
export interface SlotWrite { values: Array<{ key: string; value: string; number?: boolean }>; subject: string; step: string; version: string; value: string }

/** Only the pairs that differ from what the file holds. */
export function changedOnly<T extends { key: string; value: string }>(values: T[], current: Record<string, string | null>): T[] {
  return values.filter((v) => current[v.key] !== v.value);
}

/** Canary weight keys set to `w` (and the stable weight to 100 − w), when the chart has them. */
export function weightValues(c: GitOpsCanaryConfig, w: number): Array<{ key: string; value: string; number: true }> {
  if (!c.weightKey) return [];
  return [{ key: c.weightKey, value: String(w), number: true }, ...(c.stableWeightKey ? [{ key: c.stableWeightKey, value: String(100 - w), number: true as const }] : [])];
}

/**
 * The commit message of a slot step: the first line says what moved; trailers name the
 * deployment, who started it and why (as a rolling commit's do, when the engine's `scale` or
 * `traffic` call carries the deployment), then the service, environment, version (and value
 * when it is a digest) and the step. A step taken outside a deployment names `Actor: gangway`
 * and no deployment.
 *
 * @example slotMessage({ service: 'web', environment: 'dev', version: '1.1.0', value: '1.1.0', step: 'switch', subject: 'switch web in dev to green (1.1.0)',
 *   by: { deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42' } })
 * // 'switch web in dev to green (1.1.0)\n\nDeployment: d-7\nActor: alice\nReason: CHG-42\nService: web\nEnvironment: dev\nVersion: 1.1.0\nStep: switch\n'
 */
export function slotMessage(m: { service: string; environment: string; version: string; value: string; step: string; subject: string; by?: { deploymentId: string; actor: string; reason: string | null } | null }): string {
  const one = (s: string) => redact(s).replace(/[\s\x00-\x1f\x7f]+/g, ' ').trim();
  const trailers = m.by ? [`Deployment: ${one(m.by.deploymentId)}`, `Actor: ${one(m.by.actor)}`] : ['Actor: gangway'];
  const reason = m.by?.reason ? one(m.by.reason) : '';
  if (reason !== '') trailers.push(`Reason: ${reason}`);
  trailers.push(`Service: ${one(m.service)}`, `Environment: ${one(m.environment)}`, `Version: ${one(m.version)}`);
  if (m.value !== m.version) trailers.push(`Value: ${one(m.value)}`);
  trailers.push(`Step: ${one(m.step)}`);
  return `${one(m.subject)}\n\n${trailers.join('\n')}\n`;
}
