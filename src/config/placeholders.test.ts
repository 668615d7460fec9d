import { describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { PLACEHOLDER_NAMES, placeholderNames, substitute, substituteOne } from './placeholders.js';

const vars = {
  'release.version': '1.4.2',
  'release.image': 'ghcr.io/acme/web@sha256:abc',
  environment: 'prod',
  service: 'web',
  port: '41234',
};

describe('substitute', () => {
  it.each<[string[], string[]]>([
    [['node', 'server.js'], ['node', 'server.js']],
    [['node', 'server.js', '--version=${release.version}'], ['node', 'server.js', '--version=1.4.2']],
    [['${release.image}'], ['ghcr.io/acme/web@sha256:abc']],
    [['--listen=127.0.0.1:${port}', '${service}-${environment}'], ['--listen=127.0.0.1:41234', 'web-prod']],
    [['${environment}${environment}'], ['prodprod']],
    [['$${release.version}'], ['${release.version}']],
    [['cost: $5', '${', '$service', '{port}'], ['cost: $5', '${', '$service', '{port}']],
    [[], []],
  ])('%j → %j', (argv, expected) => {
    expect(substitute(argv, vars)).toEqual(expected);
  });

  it('keeps a value with spaces as one element and never interprets it', () => {
    const out = substitute(['echo', '${release.version}', 'x'], { ...vars, 'release.version': 'a b; rm -rf / $(id)' });
    expect(out).toEqual(['echo', 'a b; rm -rf / $(id)', 'x']);
  });

  it('does not expand placeholders that appear inside a substituted value', () => {
    expect(substitute(['${service}'], { ...vars, service: '${environment}' })).toEqual(['${environment}']);
  });

  it('refuses a placeholder it has no value for', () => {
    expect(() => substituteOne('v=${release.tag}', vars)).toThrow(GangwayError);
    expect(() => substituteOne('v=${release.tag}', vars)).toThrow('no value for placeholder ${release.tag} in "v=${release.tag}"');
  });
});

describe('placeholderNames', () => {
  it.each<[string[], string[]]>([
    [['node', 'server.js'], []],
    [['${service}-${environment}', '--port=${port}', '${service}'], ['service', 'environment', 'port']],
    [['$${service}', '${release.version}'], ['release.version']],
    [['${relase.version}', '${}'], ['relase.version', '']],
  ])('%j → %j', (argv, names) => {
    expect(placeholderNames(argv)).toEqual(names);
  });

  it('knows the five placeholders of the design', () => {
    expect(PLACEHOLDER_NAMES).toEqual(['release.version', 'release.image', 'environment', 'service', 'port']);
  });
});
