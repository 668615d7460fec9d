/**
 * `alerts` in gangway.yaml: the preset with channels, tiers of one's own, and every problem
 * with its exact message and file:line.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError, type ConfigProblem } from '../errors.js';

const head = `project: shop
notifications:
  - name: pager
    webhook: { url: "http://127.0.0.1:9/pager" }
  - name: ops
    webhook: { url: "http://127.0.0.1:9/ops" }
environments:
  prod: {}
services:
  web:
    target: { local: { command: ["node", "server.js"], port: 8080 } }
`;

function problemsOf(text: string): Array<Omit<ConfigProblem, 'file'>> {
  try {
    parseConfig(text, 'gangway.yaml', { env: {} });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(({ file: _file, ...rest }) => rest);
  }
  throw new Error('expected a ConfigError');
}

describe('alerts: the runbook-tiers preset', () => {
  it('gives p0–p2 with the runbook thresholds, the channels written, and the actions rollback, freeze, none', () => {
    const config = parseConfig(`${head}alerts:
  preset: runbook-tiers
  channels: { p0: [pager, ops], p1: [ops] }
`, 'gangway.yaml', { env: {} });
    expect(config.alerts!.intervalMs).toBe(10_000);
    expect(config.alerts!.tiers.map((t) => [t.name, t.action, t.channels, t.conditions.map((c) => {
      const r = c.rule as { name: string; metric: { metric: string }; max: number; forMs: number; windowMs: number; minSamples: number };
      return `${r.name}: ${r.metric.metric} > ${r.max} for ${c.forMs} (rule for ${r.forMs}, window ${r.windowMs}, ≥ ${r.minSamples})`;
    })])).toEqual([
      ['p0', 'rollback', ['pager', 'ops'], ['error-rate: error_rate > 0.1 for 120000 (rule for 0, window 60000, ≥ 20)', 'p99-latency: p99_latency > 10 for 0 (rule for 0, window 60000, ≥ 20)']],
      ['p1', 'freeze', ['ops'], ['error-rate: error_rate > 0.05 for 300000 (rule for 0, window 60000, ≥ 20)', 'p95-latency: p95_latency > 2 for 300000 (rule for 0, window 60000, ≥ 20)']],
      ['p2', 'none', [], ['error-rate: error_rate > 0.02 for 600000 (rule for 0, window 60000, ≥ 20)', 'p95-latency: p95_latency > 1 for 600000 (rule for 0, window 60000, ≥ 20)']],
    ]);
  });

  it('actions change what a preset tier does; tiers of one\'s own come after the preset\'s, a threshold\'s `for` becoming the hold', () => {
    const config = parseConfig(`${head}alerts:
  preset: runbook-tiers
  interval: 2s
  actions: { p1: none }
  tiers:
    slo:
      channels: [ops]
      action: freeze
      conditions:
        - { name: errors, threshold: { metric: { builtin: error_rate }, max: 0.3, for: 1s, window: 5s } }
        - { name: vs-stable, relative: { metric: { builtin: p95_latency }, maxRatio: 3 }, for: 4s }
`, 'gangway.yaml', { env: {} });
    expect(config.alerts!.intervalMs).toBe(2000);
    expect(config.alerts!.tiers.map((t) => [t.name, t.action])).toEqual([['p0', 'rollback'], ['p1', 'none'], ['p2', 'none'], ['slo', 'freeze']]);
    const slo = config.alerts!.tiers[3]!;
    expect(slo.conditions.map((c) => [c.rule.name, c.rule.kind, c.forMs, 'forMs' in c.rule ? c.rule.forMs : null])).toEqual([
      ['errors', 'threshold', 1000, 0], ['vs-stable', 'relative', 4000, null],
    ]);
  });

  it('no alerts: none', () => {
    expect(parseConfig(head, 'gangway.yaml', { env: {} }).alerts).toBeNull();
  });
});

describe('alerts: problems, each at its file:line', () => {
  it('unknown channels, tiers the preset lacks, a hidden preset tier, bad durations and actions', () => {
    expect(problemsOf(`${head}alerts:
  preset: runbook-tiers
  interval: 0s
  channels: { p0: [pagr], p9: [ops] }
  actions: { p1: freze }
  tiers:
    p2:
      conditions: [{ name: e, threshold: { metric: { builtin: error_rate }, max: 0.1 } }]
    slow:
      channels: [ops, ops, slack]
      conditions:
        - { name: p95, threshold: { metric: { builtin: p95_latency }, max: 1, for: 2m }, for: 1m }
        - { name: rel, relative: { metric: { builtin: p95_latency }, maxRatio: 2 }, for: 2 minutes }
`)).toMatchInlineSnapshot(`
  [
    {
      "column": 13,
      "hint": "write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"",
      "line": 14,
      "message": "must be longer than 0",
      "path": "alerts.interval",
    },
    {
      "column": 18,
      "hint": "did you mean freeze?",
      "line": 16,
      "message": "expected rollback, freeze or none, got the string "freze"",
      "path": "alerts.actions.p1",
    },
    {
      "column": 23,
      "hint": "list each channel once",
      "line": 21,
      "message": "\`ops\` is listed twice",
      "path": "alerts.tiers.slow.channels[1]",
    },
    {
      "column": 95,
      "hint": "keep one of them; both mean how long the breach must last",
      "line": 23,
      "message": "the condition says \`for\` twice: here and in its threshold",
      "path": "alerts.tiers.slow.conditions[0].for",
    },
    {
      "column": 90,
      "hint": "write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"",
      "line": 24,
      "message": ""2 minutes" is not a duration",
      "path": "alerts.tiers.slow.conditions[1].for",
    },
  ]
`);
  });

  it('channels without a preset, an empty alerts, a tier without conditions, a prometheus condition without a server', () => {
    expect(problemsOf(`${head}alerts:
  channels: { p0: [ops] }
`)).toMatchInlineSnapshot(`
  [
    {
      "column": 1,
      "hint": "write \`preset: runbook-tiers\` with \`channels\`, or define \`tiers\`",
      "line": 12,
      "message": "alerts needs a preset or tiers",
      "path": "alerts",
    },
    {
      "column": 3,
      "hint": "add \`preset: runbook-tiers\`, or write channels inside each tier under tiers",
      "line": 13,
      "message": "channels applies to the tiers of a preset, and alerts has no preset",
      "path": "alerts.channels",
    },
  ]
`);
    expect(problemsOf(`${head}alerts:
  tiers:
    empty: { conditions: [] }
    prom:
      conditions: [{ name: q, threshold: { metric: { prometheus: "up" }, max: 1 } }]
`)).toMatchInlineSnapshot(`
  [
    {
      "column": 14,
      "hint": "e.g. \`- { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.1, for: 2m } }\`",
      "line": 14,
      "message": "a tier needs at least one condition",
      "path": "alerts.tiers.empty.conditions",
    },
  ]
`);
  });

  it('whole-file checks: unknown channels, tiers the preset lacks, a hidden preset tier, a prometheus condition without a server', () => {
    expect(problemsOf(`${head}alerts:
  preset: runbook-tiers
  channels: { p0: [pagr], p9: [ops] }
  tiers:
    p2:
      conditions: [{ name: e, threshold: { metric: { builtin: error_rate }, max: 0.1 } }]
    prom:
      channels: [slack]
      conditions: [{ name: q, threshold: { metric: { prometheus: "up" }, max: 1 } }]
`)).toMatchInlineSnapshot(`
  [
    {
      "column": 20,
      "hint": "did you mean \`pager\`?",
      "line": 14,
      "message": "\`pagr\` is not a notifier",
      "path": "alerts.channels.p0[0]",
    },
    {
      "column": 27,
      "hint": "did you mean \`p0\`?",
      "line": 14,
      "message": "\`p9\` is not a tier of the runbook-tiers preset",
      "path": "alerts.channels.p9",
    },
    {
      "column": 5,
      "hint": "give yours another name; the preset's p2 takes its channels from alerts.channels.p2 and its action from alerts.actions.p2",
      "line": 16,
      "message": "\`p2\` is a tier of the runbook-tiers preset",
      "path": "alerts.tiers.p2",
    },
    {
      "column": 18,
      "hint": "notifiers: pager, ops",
      "line": 19,
      "message": "\`slack\` is not a notifier",
      "path": "alerts.tiers.prom.channels[0]",
    },
    {
      "column": 66,
      "hint": "set metrics.prometheus.address, e.g. \`metrics: { prometheus: { address: "http://127.0.0.1:9090" } }\`",
      "line": 20,
      "message": "a prometheus metric needs a Prometheus server, and metrics.prometheus is not set",
      "path": "alerts.tiers.prom.conditions[0].threshold.metric.prometheus",
    },
  ]
`);
  });
});
