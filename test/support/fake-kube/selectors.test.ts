/**
 * Label and field selectors parse and match as upstream's `labels.Parse` / `fields` do, and
 * bad ones are 400s.
 */
import { describe, expect, it } from 'vitest';
import { fromSelectorObject, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, selectorToString } from './selectors.js';
import { ApiError } from './status.js';

const labels = { app: 'web', color: 'blue', tier: 'front' };

describe('label selectors', () => {
  it.each([
    ['', true],
    ['app=web', true],
    ['app==web,color=blue', true],
    ['app!=web', false],
    ['color in (green, blue)', true],
    ['color notin (green,blue)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing,app', true],
    ['missing!=x', true],
    ['app=api', false],
  ])('%j matches web/blue/front: %s', (sel, expected) => {
    expect(matchesLabels(parseLabelSelector(sel), labels)).toBe(expected);
  });

  it('rejects bad syntax with 400 BadRequest', () => {
    let err: unknown;
    try { parseLabelSelector('app=web,,x'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toMatchObject({ code: 400, reason: 'BadRequest' });
  });

  it('converts LabelSelector objects and prints them like kubectl', () => {
    const obj = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'color', operator: 'In', values: ['blue', 'green'] }, { key: 'canary', operator: 'DoesNotExist' }] };
    expect(matchesLabels(fromSelectorObject(obj), labels)).toBe(true);
    expect(selectorToString(obj)).toBe('app=web,color in (blue,green),!canary');
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'web-1', namespace: 'shop' }, status: { phase: 'Running' } };
  it('matches metadata.name, metadata.namespace and status.phase', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=web-1', 'Pod'), pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.name==web-2', 'Pod'), pod)).toBe(false);
    expect(matchesFields(parseFieldSelector('status.phase!=Pending,metadata.namespace=shop', 'Pod'), pod)).toBe(true);
  });

  it('rejects a field the kind does not index', () => {
    expect(() => parseFieldSelector('status.phase=Running', 'Deployment')).toThrow('field label not supported: status.phase');
  });
});
