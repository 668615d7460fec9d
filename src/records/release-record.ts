/**
 * Renders the record of a release of several services as a whole (docs/releases.md): one
 * Markdown file per release beside the deployment records of its environment, with a YAML
 * front matter block for machines and a section for people. Each service's own deployment
 * has its own record; this one ties them together — which services, which versions, which
 * deployments, how each ended and how the release ended. Deterministic, as deployment records
 * are: the same release always gives the same bytes.
 */
import { posix } from 'node:path';
import { stringify } from 'yaml';
import type { RecordsConfig } from '../config/types.js';
import type { ReleaseSummary } from '../releases/release-view.js';
import { GANGWAY_VERSION } from '../version.js';
import { code, duration, fileSafe, iso, isoDate, isoOrNull, oneLine, text } from './markdown.js';
import { recordFolder } from './record.js';

/** Identifies the layout of a release record's front matter. */
export const RELEASE_RECORD_SCHEMA = 'gangway/release-record/v1';

/** What a release record is made from. */
export interface ReleaseRecordInput {
  /** The release, ended, with its services' outcomes. */
  release: ReleaseSummary;
  /** Only `path` is read: the folder template of deployment records. */
  config: Pick<RecordsConfig, 'path'>;
  /** The orchestrator's version written into the record; default `GANGWAY_VERSION`. */
  gangwayVersion?: string;
}

/** A rendered release record: where it goes in the repository, what it says, and its commit message. */
export interface RenderedReleaseRecord {
  /** Relative to the repository's folder, `/`-separated. */
  path: string;
  content: string;
  /** One line, e.g. `release: auth 1.4.0, api 1.4.0 to prod succeeded (r-m3x9k2-5c1f0a2b)`. */
  message: string;
  releaseId: string;
}

/**
 * The folder of release records: the deployment records' folder template without its path
 * segments that name `{service}` (a release has several), then `releases`.
 *
 * @example
 * ```ts
 * releaseRecordFolder('docs/deployments/{environment}', 'prod');           // 'docs/deployments/prod/releases'
 * releaseRecordFolder('docs/deployments/{environment}/{service}', 'prod'); // 'docs/deployments/prod/releases'
 * ```
 */
export function releaseRecordFolder(template: string, environment: string): string {
  const kept = template.replaceAll('\\', '/').split('/').filter((segment) => !segment.includes('{service}')).join('/');
  return posix.join(recordFolder(kept === '' ? '.' : kept, environment, ''), 'releases');
}

/**
 * Renders one release's record. Pure and deterministic. Throws when `config.path` points
 * outside the repository.
 *
 * @example
 * ```ts
 * const { path } = renderReleaseRecord({ release, config: { path: 'docs/deployments/{environment}' } });
 * // path: docs/deployments/prod/releases/2025-03-04-r-m7x1-1a2b3c4d.md
 * ```
 */
export function renderReleaseRecord(input: ReleaseRecordInput): RenderedReleaseRecord {
  const r = input.release;
  const version = input.gangwayVersion ?? GANGWAY_VERSION;
  const folder = releaseRecordFolder(input.config.path, r.environment);
  const spanOf = (from: number | null, to: number | null) => (from !== null && to !== null ? to - from : null);

  const front = {
    schema: RELEASE_RECORD_SCHEMA,
    release: r.id,
    environment: r.environment,
    kind: r.kind,
    onFailure: r.onFailure,
    requestedAt: iso(r.createdAt),
    startedAt: isoOrNull(r.startedAt),
    finishedAt: isoOrNull(r.finishedAt),
    durationMs: spanOf(r.startedAt, r.finishedAt),
    actor: r.actor,
    reason: r.reason,
    outcome: { phase: r.phase, message: r.message },
    services: r.services.map((s) => ({
      service: s.service,
      version: s.version,
      image: s.image,
      dependsOn: [...s.dependsOn],
      deployment: s.deploymentId,
      outcome: s.state,
      message: s.message,
      startedAt: isoOrNull(s.startedAt),
      finishedAt: isoOrNull(s.finishedAt),
      durationMs: spanOf(s.startedAt, s.finishedAt),
      rollback: s.rollback ? { deployment: s.rollback.id, version: s.rollback.version, phase: s.rollback.phase } : null,
    })),
    gangway: version,
  };

  const lines: string[] = [];
  lines.push('---', stringify(front, { lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false }).trimEnd(), '---', '');
  lines.push(`# Release ${text(r.id)} to ${text(r.environment)}: ${words(r.phase)}`, '');
  lines.push('| | |', '|---|---|');
  const row = (k: string, v: string) => lines.push(`| ${k} | ${v} |`);
  row('Release', code(r.id));
  row('Environment', text(r.environment));
  row('Kind', r.kind);
  row('On failure', r.onFailure);
  row('Services', r.services.map((s) => `${text(s.service)} ${text(s.version)}`).join(', '));
  row('Requested', `${iso(r.createdAt)} by ${text(r.actor)}`);
  row('Started', r.startedAt === null ? 'never' : iso(r.startedAt));
  row('Finished', r.finishedAt === null ? 'not finished' : iso(r.finishedAt));
  if (front.durationMs !== null) row('Duration', duration(front.durationMs));
  row('Reason', r.reason === null ? 'none given' : text(r.reason));
  row('Recorded by', `Gangway ${text(version)}`);
  lines.push('');

  lines.push('## Outcome', '', `**${words(r.phase)}**${r.message ? `: ${text(r.message)}` : ''}`, '');

  lines.push('## Services', '', 'In dependency order; each deployment has its own record.', '');
  lines.push('| Service | Version | Deployment | Outcome | Started | Duration | Rollback |', '|---|---|---|---|---|---|---|');
  for (const s of r.services) {
    const ms = spanOf(s.startedAt, s.finishedAt);
    const outcome = `${words(s.state)}${s.message ? `: ${text(s.message)}` : ''}`;
    const back = s.rollback ? `${code(s.rollback.id)} to ${text(s.rollback.version)}: ${words(s.rollback.phase)}` : '';
    lines.push(`| ${text(s.service)} | ${text(s.version)} | ${s.deploymentId === null ? 'none' : code(s.deploymentId)} | ${outcome} | ${s.startedAt === null ? '' : iso(s.startedAt)} | ${ms === null ? '' : duration(ms)} | ${back} |`);
  }
  lines.push('');

  const versions = r.services.map((s) => `${oneLine(s.service)} ${oneLine(s.version)}`).join(', ');
  return {
    path: posix.join(folder, `${isoDate(r.createdAt)}-${fileSafe(r.id)}.md`),
    content: lines.join('\n'),
    message: `release: ${versions} to ${oneLine(r.environment)} ${words(r.phase)} (${oneLine(r.id)})`,
    releaseId: r.id,
  };
}

function words(phase: string): string {
  return phase.replaceAll('_', ' ');
}
