/**
 * The OpenAPI v3 documents of the FAKE Kubernetes API server, cut to what kubectl 1.32 reads
 * (measured with `kubectl -v=8`): the `/openapi/v3` index of group-version documents, and per
 * group-version the PATCH operation of each kind, tagged with `x-kubernetes-group-version-kind`
 * and listing the `fieldValidation` query parameter. kubectl looks for exactly that to decide
 * the server validates fields itself (so it sends `fieldValidation=Strict` instead of
 * validating against the full schema). The operations carry no request body schema, so
 * client-side `kubectl apply` computes strategic merge patches from its compiled-in types —
 * the same patch keys upstream's schema gives. `/openapi/v2` is a Swagger document without
 * paths or definitions: kubectl falls back to it for client-side validation of a kind the v3
 * index does not list (a custom resource whose CRD is not installed), finds no schema and skips
 * validation — as against a real server, which has no schema for it either — so the user sees
 * the mapping error (`no matches for kind …`), not a validation failure.
 */
import type { ResourceType } from './resources.js';
import { RESOURCE_TYPES, VERSION_INFO } from './resources.js';

function gvPath(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? `api/${rt.version}` : `apis/${rt.group}/${rt.version}`;
}

const QUERY = (name: string): Record<string, unknown> => ({ name, in: 'query', uniqueItems: true, schema: { type: 'string' } });

const V2_TITLE = 'Kubernetes (fake)';

/** `/openapi/v2` as JSON: a Swagger 2.0 document without paths or definitions. */
export function openApiV2(): unknown {
  return { swagger: '2.0', info: { title: V2_TITLE, version: VERSION_INFO.gitVersion }, paths: {}, definitions: {} };
}

/** Content type of `/openapi/v2` as protobuf (what kubectl asks for). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/**
 * The same document as the `openapi_v2.Document` protobuf message: `swagger` (field 1) and
 * `info` (field 2: `title` 1, `version` 2); absent paths and definitions are empty.
 */
export function openApiV2Protobuf(): Buffer {
  const str = (field: number, value: string): Buffer => bytes(field, Buffer.from(value, 'utf8'));
  const info = Buffer.concat([str(1, V2_TITLE), str(2, VERSION_INFO.gitVersion)]);
  return Buffer.concat([str(1, '2.0'), bytes(2, info)]);
}

/** A length-delimited protobuf field (wire type 2); lengths here stay below 128, one varint byte. */
function bytes(field: number, value: Buffer): Buffer {
  if (value.length > 127) throw new Error('fake-kube: openapi v2 field too long for a one-byte length');
  return Buffer.concat([Buffer.from([(field << 3) | 2, value.length]), value]);
}

/** `/openapi/v3`: the index of group-version documents (of `types`: the server's registry). */
export function openApiV3Root(types: readonly ResourceType[] = RESOURCE_TYPES): unknown {
  const kinds = new Map<string, string[]>();
  for (const rt of types) kinds.set(gvPath(rt), [...(kinds.get(gvPath(rt)) ?? []), rt.kind]);
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [p, ks] of kinds) {
    // The hash names the kinds too: kubectl caches documents by it, and a defined custom resource changes its document.
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=FAKE${`${p}${ks.join('')}`.replace(/[^a-zA-Z0-9]/g, '').toUpperCase()}` };
  }
  return { paths };
}

/** `/openapi/v3/<group-version path>`, or undefined when unknown. */
export function openApiV3Doc(path: string, types: readonly ResourceType[] = RESOURCE_TYPES): unknown {
  const clean = path.split('?')[0].replace(/\/$/, '');
  const served = types.filter((rt) => gvPath(rt) === clean);
  if (served.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const rt of served) {
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
