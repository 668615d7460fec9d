/**
 * The OpenAPI v3 documents of the FAKE Kubernetes API server, cut to what kubectl 1.32 reads
 * (measured with `kubectl -v=8`): the `/openapi/v3` index of group-version documents, and per
 * group-version the PATCH operation of each kind, tagged with `x-kubernetes-group-version-kind`
 * and listing the `fieldValidation` query parameter. kubectl looks for exactly that to decide
 * the server validates fields itself (so it sends `fieldValidation=Strict` instead of
 * validating against the full schema). The operations carry no request body schema, so
 * client-side `kubectl apply` computes strategic merge patches from its compiled-in types —
 * the same patch keys upstream's schema gives. `/openapi/v2` is not served (404), as kubectl
 * then needs nothing from it.
 */
import type { ResourceType } from './resources.js';
import { RESOURCE_TYPES, VERSION_INFO } from './resources.js';

function gvPath(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? `api/${rt.version}` : `apis/${rt.group}/${rt.version}`;
}

const QUERY = (name: string): Record<string, unknown> => ({ name, in: 'query', uniqueItems: true, schema: { type: 'string' } });

/** `/openapi/v2`: not served. */
export function openApiV2(): unknown {
  return undefined;
}

/** `/openapi/v3`: the index of group-version documents. */
export function openApiV3Root(): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const rt of RESOURCE_TYPES) {
    const p = gvPath(rt);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=FAKE${p.replace(/[^a-zA-Z0-9]/g, '').toUpperCase()}` };
  }
  return { paths };
}

/** `/openapi/v3/<group-version path>`, or undefined when unknown. */
export function openApiV3Doc(path: string): unknown {
  const clean = path.split('?')[0].replace(/\/$/, '');
  const types = RESOURCE_TYPES.filter((rt) => gvPath(rt) === clean);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const rt of types) {
    const base = `/${gvPath(rt)}${rt.namespaced ? '/namespaces/{namespace}' : ''}/${rt.plural}/{name}`;
    paths[base] = {
      patch: {
        description: `partially update the specified ${rt.kind}`,
        operationId: `patch${rt.kind}`,
        parameters: [QUERY('dryRun'), QUERY('fieldManager'), QUERY('fieldValidation'), { name: 'force', in: 'query', uniqueItems: true, schema: { type: 'boolean' } }],
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: rt.group, version: rt.version, kind: rt.kind },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (fake)', version: VERSION_INFO.gitVersion }, paths, components: { schemas: {} } };
}
