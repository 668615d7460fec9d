/**
 * The fake's patch engines give the results upstream gives for the same documents (examples
 * from the Kubernetes "update API objects in place using kubectl patch" task and
 * k8s.io/apimachinery strategicpatch tests).
 */
import { describe, expect, it } from 'vitest';
import { PatchError, applyJsonPatch, applyMergePatch, strategicMerge } from './patch.js';
import { schemaFor } from './schema.js';

const deployment = () => ({
  metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['a'] },
  spec: {
    replicas: 2,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      spec: {
        containers: [
          { name: 'web', image: 'web:1', ports: [{ containerPort: 8080, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
          { name: 'sidecar', image: 'side:1' },
        ],
      },
    },
  },
});

describe('JSON patch (RFC 6902)', () => {
  it('adds, replaces, removes, moves, copies and tests', () => {
    const out = applyJsonPatch({ a: { b: [1, 2] }, c: 'x' }, [
      { op: 'add', path: '/a/b/-', value: 3 },
      { op: 'replace', path: '/c', value: 'y' },
      { op: 'copy', from: '/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e' },
      { op: 'remove', path: '/a/b/0' },
      { op: 'test', path: '/e', value: 'y' },
      { op: 'add', path: '/f~1g', value: true },
    ]);
    expect(out).toEqual({ a: { b: [2, 3] }, c: 'y', e: 'y', 'f/g': true });
  });

  it('fails a test op and a missing path with PatchError', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(new PatchError('testing value /a failed: test failed'));
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }])).toThrow(PatchError);
    expect(() => applyJsonPatch({ a: 1 }, { op: 'add' })).toThrow(PatchError);
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it('merges maps, deletes on null, replaces lists', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [9] })).toEqual({ a: { c: 2, d: 3 }, l: [9] });
  });
});

describe('strategic merge patch', () => {
  const schema = schemaFor('Deployment');

  it('merges containers by name, ports by containerPort and env by name', () => {
    const out = strategicMerge(deployment(), {
      spec: { template: { spec: { containers: [{ name: 'web', image: 'web:2', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }], ports: [{ containerPort: 9090 }] }] } } },
    }, schema) as ReturnType<typeof deployment>;
    expect(out.spec.template.spec.containers).toEqual([
      { name: 'web', image: 'web:2', ports: [{ containerPort: 8080, protocol: 'TCP' }, { containerPort: 9090 }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }] },
      { name: 'sidecar', image: 'side:1' },
    ]);
  });

  it('merges a Service selector like a map (kubectl patch svc web -p {"spec":{"selector":{"color":"green"}}})', () => {
    const svc = { spec: { selector: { app: 'web', color: 'blue' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } };
    expect(strategicMerge(svc, { spec: { selector: { color: 'green' } } }, schemaFor('Service'))).toEqual({ spec: { selector: { app: 'web', color: 'green' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } });
    expect(strategicMerge(svc, { spec: { ports: [{ port: 443, targetPort: 8443 }] } }, schemaFor('Service'))).toEqual({ spec: { selector: { app: 'web', color: 'blue' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 443, targetPort: 8443 }] } });
  });

  it('honours $patch delete / replace, $retainKeys, $setElementOrder and $deleteFromPrimitiveList', () => {
    const out = strategicMerge(deployment(), {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a'], finalizers: ['b'] },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
        template: { spec: {
          '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }],
          containers: [{ name: 'sidecar', $patch: 'delete' }, { name: 'web', env: [{ $patch: 'replace' }, { name: 'Z', value: '0' }] }],
        } },
      },
    }, schema) as ReturnType<typeof deployment>;
    expect(out.metadata.finalizers).toEqual(['b']);
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
    expect(out.spec.template.spec.containers).toEqual([{ name: 'web', image: 'web:1', ports: [{ containerPort: 8080, protocol: 'TCP' }], env: [{ name: 'Z', value: '0' }] }]);
  });

  it('replaces lists without a merge key (args) and a map under $patch: replace', () => {
    const pod = { spec: { containers: [{ name: 'a', args: ['x', 'y'] }], nodeSelector: { a: '1', b: '2' } } };
    expect(strategicMerge(pod, { spec: { containers: [{ name: 'a', args: ['z'] }], nodeSelector: { $patch: 'replace', c: '3' } } }, schemaFor('Pod')))
      .toEqual({ spec: { containers: [{ name: 'a', args: ['z'] }], nodeSelector: { c: '3' } } });
  });

  it('rejects a merge-keyed item without its key', () => {
    expect(() => strategicMerge(deployment(), { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, schema))
      .toThrow(new PatchError('map: {"image":"x"} does not contain declared merge key: name'));
  });
});
