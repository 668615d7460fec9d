/**
 * Checks of `environments.<name>.autoDeploy` that need the whole file (load.ts runs them with
 * the others, so each problem is shown at its file:line): only the first environment of a
 * promotion chain subscribes unless `allowPromoted` says so, `services` names declared
 * services, the repository is a repository name for every service, and the webhook's secret
 * variable is set.
 */
import type { RawConfig } from '../config/schema.js';
import { backquote, didYouMean, listNames } from '../config/problems.js';
import type { RawProblem } from '../config/problems.js';
import { envValue } from '../config/integrations.js';
import { parseRepositoryName } from '../gates/registry/reference.js';
import { repositoryFor } from './subscriptions.js';

/** Appends the problems of every environment's `autoDeploy` to `problems`. */
export function checkAutoDeploy(raw: RawConfig, env: Readonly<Record<string, string | undefined>>, problems: RawProblem[]): void {
  const services = Object.keys(raw.services);
  for (const [name, e] of Object.entries(raw.environments)) {
    const a = e.autoDeploy;
    if (!a) continue;
    const at = ['environments', name, 'autoDeploy'];
    if (e.promotion && a.allowPromoted !== true) {
      problems.push({
        path: at, at: 'key',
        message: `${backquote(name)} is promoted from \`${e.promotion.from}\`: only the first environment of a promotion chain deploys by itself`,
        hint: `subscribe \`${e.promotion.from}\` (or the first environment of its chain) instead, or add \`allowPromoted: true\` (the promotion gate still applies)`,
      });
    }
    a.services?.forEach((s, i) => {
      if (services.includes(s)) return;
      problems.push({
        path: [...at, 'services', i], at: 'value', message: `${backquote(s)} is not a declared service`,
        suggest: () => {
          const guess = didYouMean(s, services);
          return guess ? `did you mean \`${guess}\`?` : `declared services: ${listNames(services)}`;
        },
      });
    });
    if (a.image) {
      for (const service of a.services ?? services) {
        const repo = repositoryFor(a.image.repository, service);
        try {
          parseRepositoryName(repo);
        } catch (err) {
          problems.push({
            path: [...at, 'image', 'repository'], at: 'value',
            message: `for service ${backquote(service)} it reads ${JSON.stringify(repo)}, which is not a repository name: ${(err as Error).message}`,
            hint: 'write it as host[:port]/path, e.g. registry.example.com/shop/${service}, without a tag',
          });
          break;
        }
      }
    }
    if (a.webhook && a.secretFromEnv !== undefined && !envValue(env, a.secretFromEnv)) {
      problems.push({
        path: [...at, 'secretFromEnv'], at: 'value', message: `environment variable ${a.secretFromEnv} is not set`,
        hint: `set ${a.secretFromEnv} to the secret CI signs its requests with before starting gangway`,
      });
    }
  }
}
