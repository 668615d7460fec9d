/**
 * The commit message of a GitOps change. Its first line says what happened in the words a
 * person reading `git log --oneline` of the config repository looks for; the deployment,
 * the actor and the reason follow as git trailers (`git log --format='%(trailers)'`), so the
 * commit leads back to the deployment that made it. Every field is kept to one line and
 * credentials in URLs are masked: a reason pasted with a clone URL must not publish a token.
 */
import { redact } from '../../git/runner.js';

export interface ChangeMessageFields {
  service: string;
  environment: string;
  /** The release's version (the image tag written). */
  version: string;
  deploymentId: string;
  /** Who started the deployment or the rollback. */
  actor: string;
  /** Left out when empty. */
  reason?: string | null;
  /** `deploy` (default) or `rollback`, which changes the first line. */
  action?: 'deploy' | 'rollback';
}

/**
 * Formats a commit message for a change made by a deployment.
 *
 * @example
 * changeMessage({ service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42' });
 * // 'deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: CHG-42\n'
 * changeMessage({ service: 'web', environment: 'staging', version: '1.4.1', deploymentId: 'd-7', actor: 'gangway', action: 'rollback' });
 * // 'roll back web to 1.4.1 in staging\n\nDeployment: d-7\nActor: gangway\n'
 */
export function changeMessage(m: ChangeMessageFields): string {
  const [service, environment, version] = [oneLine(m.service), oneLine(m.environment), oneLine(m.version)];
  const subject = m.action === 'rollback'
    ? `roll back ${service} to ${version} in ${environment}`
    : `deploy ${service} ${version} to ${environment}`;
  const trailers = [`Deployment: ${oneLine(m.deploymentId)}`, `Actor: ${oneLine(m.actor)}`];
  const reason = oneLine(m.reason ?? '');
  if (reason !== '') trailers.push(`Reason: ${reason}`);
  return `${subject}\n\n${trailers.join('\n')}\n`;
}

/** Whitespace runs (line breaks included) become one space, so a field can never start a line of its own. */
function oneLine(s: string): string {
  return redact(s).replace(/[\s\x00-\x1f\x7f]+/g, ' ').trim();
}
