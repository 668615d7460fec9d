import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, JSON_SCHEMA_PATH, jsonSchemaText, writeJsonSchema } from './json-schema.js';

const repoRoot = resolve(import.meta.dirname, '../..');

describe('JSON Schema of gangway.yaml', () => {
  it('is committed exactly as generated', () => {
    const committed = readFileSync(join(repoRoot, JSON_SCHEMA_PATH), 'utf8');
    expect(committed === jsonSchemaText(),
      `${JSON_SCHEMA_PATH} is out of date: run \`npm run build && npm run schema\` (or call writeJsonSchema('${JSON_SCHEMA_PATH}')) and commit the result`,
    ).toBe(true);
  });

  it('is draft 2020-12, strict, and describes the keys editors complete', () => {
    const schema = configJsonSchema() as {
      $schema: string; title: string; required: string[]; additionalProperties: boolean;
      properties: Record<string, { description?: string }>;
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('gangway.yaml');
    expect(schema.required).toEqual(['project', 'environments', 'services']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual([
      'project', 'stateDir', 'server', 'agent', 'store', 'metrics', 'groups', 'registries', 'incidents', 'records', 'notifications', 'alerts',
      'environments', 'services', 'analysis',
    ]);
    for (const [key, value] of Object.entries(schema.properties)) {
      expect(value.description, `properties.${key}.description`).toMatch(/\S/);
    }
  });

  it('gives a service\'s keys their descriptions and the port range', () => {
    interface Node { properties: Record<string, Node>; additionalProperties: Node; description?: string; pattern?: string }
    const schema = configJsonSchema() as unknown as Node;
    const service = schema.properties.services.additionalProperties;
    expect(Object.keys(service.properties)).toEqual(['dependsOn', 'target', 'health', 'strategy', 'analysis', 'smoke', 'rollback', 'drainTimeout', 'jobs', 'migrations', 'environments']);
    const port = service.properties.target.properties.local.properties.port;
    expect(port).toEqual({
      type: 'integer', minimum: 1, maximum: 65535,
      description: 'Public port served by the agent\'s proxy. Must differ from every other port in the project, in every environment.',
    });
    expect(service.properties.drainTimeout.description).toBe('How long old instances may finish in-flight requests before they are stopped. Default 30s. At most 1h.');
    expect(service.properties.drainTimeout.pattern).toBe('^(?=\\d)(?:(\\d+)h)?(?:(\\d+)m(?!s))?(?:(\\d+)s)?(?:(\\d+)ms)?$');
  });

  it('completes canary steps, rule kinds and builtin metric names', () => {
    interface Node { properties: Record<string, Node>; additionalProperties: Node; items: Node; enum?: string[] }
    const schema = configJsonSchema() as unknown as Node;
    const strategy = schema.properties.services.additionalProperties.properties.strategy;
    expect(Object.keys(strategy.properties)).toEqual(['rolling', 'blueGreen', 'canary']);
    const step = strategy.properties.canary.properties.steps.items;
    expect(Object.keys(step.properties)).toEqual(['setWeight', 'setHeaderRoute', 'analysis', 'pause']);
    expect(step.properties.setWeight).toEqual({ type: 'integer', minimum: 0, maximum: 100, description: 'Send this percentage (0–100) of requests to the new release.' });
    const rule = schema.properties.analysis.additionalProperties.properties.rules.items;
    expect(Object.keys(rule.properties)).toEqual(['name', 'threshold', 'relative', 'healthFailures', 'judge', 'onInconclusive', 'onError']);
    expect(rule.properties.threshold.properties.metric.properties.builtin.enum).toEqual(['error_rate', 'request_rate', 'p50_latency', 'p95_latency', 'p99_latency']);
    expect(rule.properties.judge.properties.alpha).toEqual({ type: 'number', exclusiveMinimum: 0, maximum: 0.5, description: 'Significance level of the tests, in (0, 0.5]. Default 0.01.' });
  });

  it('completes an environment\'s gates, the gates expedited may skip (not reason), and both shapes of window range', () => {
    interface Node { properties: Record<string, Node>; additionalProperties: Node; items: Node; enum?: string[]; pattern?: string; description?: string }
    const schema = configJsonSchema() as unknown as Node;
    const environment = schema.properties.environments.additionalProperties;
    expect(Object.keys(environment.properties)).toEqual(['promotion', 'reason', 'queue', 'approvals', 'windows', 'checks', 'checklist', 'image', 'expedited', 'autoDeploy', 'releases']);
    expect(environment.properties.expedited.properties.skip.items.enum)
      .toEqual(['promotion', 'window', 'freeze', 'approvals', 'image', 'signature', 'checks', 'checklist', 'rejected']);
    const range = environment.properties.windows.items.properties.deny;
    expect(Object.keys(range.properties)).toEqual(['days', 'from', 'to', 'start', 'end']);
    expect(range.properties.start.pattern).toBe('^(\\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T(?:[01]\\d|2[0-3]):[0-5]\\d$');
    expect(Object.keys(environment.properties.checks.items.properties)).toEqual(['name', 'run', 'webhook', 'timeout']);
    expect(Object.keys(schema.properties.registries.items.properties)).toEqual(['host', 'insecure', 'username', 'passwordFromEnv', 'tokenFromEnv']);
    expect(schema.properties.groups.additionalProperties.description).toBe('Member actor names (as deployments and approvals record them).');
  });

  it('completes records, notifiers and their events, and a service\'s migrations', () => {
    interface Node { properties: Record<string, Node>; additionalProperties: Node; items: Node; anyOf: Node[]; enum?: string[]; required?: string[] }
    const schema = configJsonSchema() as unknown as Node;
    expect(Object.keys(schema.properties.records.properties)).toEqual(['repo', 'path', 'remote', 'branch', 'author', 'pushRetries']);
    expect(schema.properties.records.required).toEqual(['repo']);
    const notifier = schema.properties.notifications.items;
    expect(Object.keys(notifier.properties)).toEqual(['name', 'webhook', 'slack', 'github', 'events', 'timeout', 'retries']);
    expect(notifier.properties.events.items.enum).toEqual(['started', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded']);
    expect(notifier.properties.github.required).toEqual(['repo', 'tokenFromEnv']);
    const migrations = schema.properties.services.additionalProperties.properties.migrations.anyOf[0];
    expect(Object.keys(migrations.properties)).toEqual(['backup', 'migrate', 'validate', 'rollback', 'cwd', 'timeout', 'env']);
    expect(migrations.required).toEqual(['migrate', 'rollback']);
    expect(Object.keys(migrations.properties.backup.anyOf[0].properties)).toEqual(['pgDump', 'run']);
  });

  it('writeJsonSchema writes the same text', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gangway-schema-')), 'gangway.schema.json');
    await writeJsonSchema(file);
    expect(readFileSync(file, 'utf8')).toBe(jsonSchemaText());
  });
});
