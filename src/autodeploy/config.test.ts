/**
 * `environments.<name>.autoDeploy` in gangway.yaml: what it compiles to, and each mistake a
 * clear problem at its file:line (a tag pattern that is not a regular expression, a promoted
 * environment without allowPromoted, an unknown service, a webhook without its secret).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { subscriptions } from './subscriptions.js';

/** Two local services, with a port of their own in each environment after the first (`second`). */
function services(second: string): string {
  return `services:
  web:
    target:
      local: { command: ["node", "app.js"], port: 18080 }
    environments: { ${second}: { target: { local: { port: 18090 } } } }
  api:
    target:
      local: { command: ["node", "api.js"], port: 18081 }
    environments: { ${second}: { target: { local: { port: 18091 } } } }
`;
}

function problems(yaml: string, env: Record<string, string> = {}): string {
  try {
    parseConfig(yaml, '/project/gangway.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('the config was accepted');
}

describe('autoDeploy in the config', () => {
  it('compiles an environment-level subscription into one per service, the repository filled in for each', () => {
    const config = parseConfig(`project: shop
environments:
  dev:
    autoDeploy:
      image: { repository: "registry.example.com/shop/\${service}", tagPattern: '^\\d+\\.\\d+\\.\\d+$' }
  staging:
    promotion: { from: dev }
    autoDeploy: { webhook: true, secretFromEnv: RELEASE_SECRET, services: [api], allowPromoted: true }
${services('staging')}`, '/project/gangway.yaml', { env: { RELEASE_SECRET: 's3cret' } });
    expect(config.environments[0].autoDeploy).toEqual({
      image: { repository: 'registry.example.com/shop/${service}', tagPattern: '^\\d+\\.\\d+\\.\\d+$', order: 'semver', intervalMs: 60_000 },
      webhook: null, services: ['web', 'api'], allowPromoted: false,
    });
    expect(config.environments[1].autoDeploy).toEqual({
      image: null, webhook: { secretFromEnv: 'RELEASE_SECRET', secret: 's3cret' }, services: ['api'], allowPromoted: true,
    });
    expect(subscriptions(config).map((s) => [s.service, s.environment, s.repository])).toEqual([
      ['web', 'dev', 'registry.example.com/shop/web'], ['api', 'dev', 'registry.example.com/shop/api'], ['api', 'staging', null],
    ]);
  });

  it('refuses a tag pattern that is not a regular expression, at its line', () => {
    expect(problems(`project: shop
environments:
  dev:
    autoDeploy:
      image:
        repository: "127.0.0.1:5000/\${service}"
        tagPattern: "^(1\\\\."
${services('staging')}`)).toBe(String.raw`/project/gangway.yaml:7:21: environments.dev.autoDeploy.image.tagPattern: "^(1\\." is not a valid regular expression: /^(1\./: Unterminated group
  hint: write a JavaScript regular expression, e.g. '^[0-9]+[.][0-9]+[.][0-9]+$' for tags like 1.4.2`);
  });

  it('refuses a webhook without secretFromEnv, and image with webhook', () => {
    expect(problems(`project: shop
environments:
  dev:
    autoDeploy: { webhook: true }
  qa:
    autoDeploy: { webhook: true, secretFromEnv: S, image: { repository: "127.0.0.1:5000/web", tagPattern: "." } }
${services('qa')}`)).toBe(`/project/gangway.yaml:4:28: environments.dev.autoDeploy.webhook: a webhook needs secretFromEnv
  hint: name the environment variable holding the signing secret: \`secretFromEnv: GANGWAY_RELEASE_SECRET\`
/project/gangway.yaml:6:5: environments.qa.autoDeploy: autoDeploy has both image and webhook
  hint: choose exactly one of image, webhook`);
  });

  it('refuses auto-deploy in a promoted environment unless allowPromoted, and an unknown service', () => {
    expect(problems(`project: shop
environments:
  dev: {}
  staging:
    promotion: { from: dev }
    autoDeploy:
      image: { repository: "127.0.0.1:5000/\${service}", tagPattern: "." }
      services: [web, wbe]
${services('staging')}`)).toBe(`/project/gangway.yaml:6:5: environments.staging.autoDeploy: \`staging\` is promoted from \`dev\`: only the first environment of a promotion chain deploys by itself
  hint: subscribe \`dev\` (or the first environment of its chain) instead, or add \`allowPromoted: true\` (the promotion gate still applies)
/project/gangway.yaml:8:23: environments.staging.autoDeploy.services[1]: \`wbe\` is not a declared service
  hint: did you mean \`web\`?`);
  });

  it('refuses a webhook whose secret variable is not set, and a repository that is not one (a tag in it)', () => {
    expect(problems(`project: shop
environments:
  dev:
    autoDeploy: { webhook: true, secretFromEnv: RELEASE_SECRET }
  qa:
    autoDeploy:
      image: { repository: "127.0.0.1:5000/\${service}:latest", tagPattern: "." }
${services('qa')}`)).toBe(`/project/gangway.yaml:4:49: environments.dev.autoDeploy.secretFromEnv: environment variable RELEASE_SECRET is not set
  hint: set RELEASE_SECRET to the secret CI signs its requests with before starting gangway
/project/gangway.yaml:7:28: environments.qa.autoDeploy.image.repository: for service \`web\` it reads "127.0.0.1:5000/web:latest", which is not a repository name: invalid image reference "127.0.0.1:5000/web:latest": "web:latest" is not a valid repository path component (lower-case letters, digits, and . _ - between them)
  hint: write it as host[:port]/path, e.g. registry.example.com/shop/\${service}, without a tag`);
  });
});
