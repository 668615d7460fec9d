/**
 * The commit message of a GitOps change. Its first line says what happened in the words a
 * person reading `git log --oneline` of the config repository looks for; the deployment,
 * the actor and the reason follow as git trailers (`git log --format='%(trailers)'`), so the
 * commit leads back to the deployment that made it. The service, environment and version follow
 * as trailers too (and the value written, when it is not the version: a digest): they are how
 * Gangway finds its own commits again — the commit a rollback reverts, the value drift is
 * measured against — in a repository several services and environments share. Every field is
 * kept to one line and credentials in URLs are masked: a reason pasted with a clone URL must
 * not publish a token.
 */
import { redact } from '../../git/runner.js';

export interface ChangeMessageFields {
  service: string;
  environment: string;
  /** The release's version. */
  version: string;
  /** The value written to the file when it is not the version (the image digest); left out otherwise. */
  value?: string | null;
  deploymentId: string;
  /** Who started the deployment or the rollback. */
  actor: string;
  /** Left out when empty. */
  reason?: string | null;
  /** `deploy` (default) or `rollback`, which changes the first line. */
  action?: 'deploy' | 'rollback';
}

/** The trailers of a commit Gangway made, as {@link parseChange} reads them back. */
export interface ChangeTrailers {
  deploymentId: string;
  actor: string;
  reason: string | null;
  service: string;
  environment: string;
  version: string;
  /** The value written (the version unless a `Value` trailer says otherwise). */
  value: string;
  action: 'deploy' | 'rollback';
}

/**
 * Formats a commit message for a change made by a deployment.
 *
 * @example
 * changeMessage({ service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42' });
 * // 'deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: CHG-42\nService: web\nEnvironment: staging\nVersion: 1.4.2\n'
 * changeMessage({ service: 'web', environment: 'staging', version: '1.4.1', deploymentId: 'd-7', actor: 'gangway', action: 'rollback' });
 * // 'roll back web to 1.4.1 in staging\n\nDeployment: d-7\nActor: gangway\nService: web\nEnvironment: staging\nVersion: 1.4.1\n'
 */
export function changeMessage(m: ChangeMessageFields): string {
  const [service, environment, version] = [oneLine(m.service), oneLine(m.environment), oneLine(m.version)];
  const subject = m.action === 'rollback'
    ? `roll back ${service} to ${version} in ${environment}`
    : `deploy ${service} ${version} to ${environment}`;
  const trailers = [`Deployment: ${oneLine(m.deploymentId)}`, `Actor: ${oneLine(m.actor)}`];
  const reason = oneLine(m.reason ?? '');
  if (reason !== '') trailers.push(`Reason: ${reason}`);
  trailers.push(`Service: ${service}`, `Environment: ${environment}`, `Version: ${version}`);
  const value = oneLine(m.value ?? '');
  if (value !== '' && value !== version) trailers.push(`Value: ${value}`);
  return `${subject}\n\n${trailers.join('\n')}\n`;
}

/**
 * Reads a commit's subject and trailers back as a change Gangway made, or null when the commit
 * is not one (someone else's, or one without the trailers).
 *
 * @example
 * parseChange('deploy web 1.4.2 to staging', { Deployment: 'd-7', Actor: 'alice', Service: 'web', Environment: 'staging', Version: '1.4.2' });
 * // { deploymentId: 'd-7', actor: 'alice', reason: null, service: 'web', environment: 'staging', version: '1.4.2', value: '1.4.2', action: 'deploy' }
 */
export function parseChange(subject: string, trailers: Record<string, string>): ChangeTrailers | null {
  const { Deployment: deploymentId, Actor: actor, Service: service, Environment: environment, Version: version } = trailers;
  if (!deploymentId || !actor || !service || !environment || !version) return null;
  const action = subject.startsWith('roll back ') ? 'rollback' : subject.startsWith('deploy ') ? 'deploy' : null;
  if (action === null) return null;
  return { deploymentId, actor, reason: trailers.Reason ?? null, service, environment, version, value: trailers.Value ?? version, action };
}

/** Whitespace runs (line breaks included) become one space, so a field can never start a line of its own. */
function oneLine(s: string): string {
  return redact(s).replace(/[\s\x00-\x1f\x7f]+/g, ' ').trim();
}
