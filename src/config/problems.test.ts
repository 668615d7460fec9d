import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, formatPath } from './problems.js';

describe('didYouMean', () => {
  const keys = ['previewPort', 'scaleDownDelay'];
  it.each<[string, readonly string[], string | undefined]>([
    ['previewPrt', keys, 'previewPort'],
    ['previewport', keys, 'previewPort'],
    ['PREVIEWPORT', keys, 'previewPort'],
    ['scaledowndelay', keys, 'scaleDownDelay'],
    ['delay', keys, undefined],
    ['prot', ['port', 'host'], 'port'],
    ['hots', ['port', 'host'], 'host'],
    ['ab', ['cd', 'xy'], undefined],
    ['stagin', ['dev', 'staging', 'prod'], 'staging'],
  ])('%s among %j → %s', (word, candidates, expected) => {
    expect(didYouMean(word, candidates)).toBe(expected);
  });
});

describe('editDistance', () => {
  it.each([
    ['', '', 0], ['port', 'port', 0], ['port', 'prot', 2], ['port', 'ports', 1], ['kitten', 'sitting', 3],
  ] as const)('%s / %s → %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});

describe('formatPath', () => {
  it.each<[Array<string | number>, string]>([
    [[], ''],
    [['services', 'web', 'smoke', 2, 'http', 'path'], 'services.web.smoke[2].http.path'],
    [['services', 'web', 'strategy', 'blueGreen', 'previewPort'], 'services.web.strategy.blueGreen.previewPort'],
    [['services', 'web', 'target', 'local', 'env', 'APP_VERSION'], 'services.web.target.local.env.APP_VERSION'],
    [['services', 'web', 'smoke', 0, 'http', 'headers', 'X-Request-Id'], 'services.web.smoke[0].http.headers.X-Request-Id'],
    [['health', 'expect', 'json', 'checks.db'], 'health.expect.json["checks.db"]'],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});
