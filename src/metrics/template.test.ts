import { describe, expect, it } from 'vitest';
import { escapePromQLString, formatPromDuration, renderPromQL, renderUrl, TemplateError, type TemplateVars } from './template.js';

const vars: TemplateVars = { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000 };

describe('query templates', () => {
  it('substitutes every placeholder in the runbook queries', () => {
    expect(renderPromQL('sum(rate(http_requests_total{service="${service}",environment="${environment}",version="${version}",status=~"5.."}[${window}]))', vars))
      .toBe('sum(rate(http_requests_total{service="web",environment="prod",version="2.0.0",status=~"5.."}[2m]))');
  });

  it('escapes label values for a PromQL string literal, so a value cannot end the string', () => {
    const evil = { ...vars, version: '1"} or vector(1) or {a="\\\n' };
    expect(renderPromQL('x{version="${version}"}', evil)).toBe('x{version="1\\"} or vector(1) or {a=\\"\\\\\\n"}');
    expect(escapePromQLString('tab\there\r')).toBe('tab\\there\\r');
  });

  it('writes windows as Prometheus durations in the largest exact unit', () => {
    expect([86_400_000, 7_200_000, 120_000, 90_000, 1000, 1500, 250].map(formatPromDuration)).toEqual(['1d', '2h', '2m', '90s', '1s', '1500ms', '250ms']);
    expect(() => formatPromDuration(0)).toThrow(new TemplateError('a window must be at least 1 ms, got 0', '${window}'));
  });

  it('percent-encodes values in URLs', () => {
    const v = { ...vars, service: 'a b/c', version: '1.0&x=1' };
    expect(renderUrl('https://stats.example.com/${service}?v=${version}&w=${window}', v)).toBe('https://stats.example.com/a%20b%2Fc?v=1.0%26x%3D1&w=2m');
  });

  it('rejects an unknown placeholder, naming it and the known ones', () => {
    expect(() => renderPromQL('x{v="${release}"}', vars)).toThrow(
      'unknown placeholder ${release} in "x{v=\\"${release}\\"}"; known: ${service}, ${environment}, ${version}, ${window}');
  });

  it('leaves text without placeholders and lone dollar signs alone', () => {
    expect(renderPromQL('up{job="a$b"} $ {', vars)).toBe('up{job="a$b"} $ {');
  });
});
