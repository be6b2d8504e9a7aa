import type { JsonObject } from './patch.ts';
import { apiGroups, RESOURCES, type ResourceType } from './resources.ts';

/**
 * A skeletal OpenAPI v3 (`/openapi/v3`, `/openapi/v3/<api|apis/group>/<version>`): paths with
 * their operations, `x-kubernetes-group-version-kind` and query parameters, but no schemas.
 * kubectl reads it to learn that the server validates fields itself (`fieldValidation`), so it
 * skips client-side validation; with no schemas and no strategic-merge request body it computes
 * `kubectl apply` patches from its compiled-in types, as it does against older servers.
 */
const QUERY_PARAMETERS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

export function openApiRoot(): JsonObject {
  const paths: JsonObject = { [gvPath('', 'v1')]: { serverRelativeURL: '/openapi/v3/api/v1' } };
  for (const g of apiGroups()) {
    for (const version of g.versions) {
      paths[gvPath(g.group, version)] = {
        serverRelativeURL: `/openapi/v3/${gvPath(g.group, version)}`,
      };
    }
  }
  return { paths };
}

function operation(type: ResourceType, action: string): JsonObject {
  return {
    operationId: `${action}${type.kind}`,
    parameters: QUERY_PARAMETERS.map((name) => ({
      name,
      in: 'query',
      schema: { type: 'string', uniqueItems: true },
    })),
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': {
      group: type.group,
      version: type.version,
      kind: type.kind,
    },
  };
}

export function openApiGroupVersion(group: string, version: string): JsonObject | undefined {
  const types = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const paths: JsonObject = {};
  for (const type of types) {
    const base = `/${gvPath(group, version)}${type.namespaced ? '/namespaces/{namespace}' : ''}/${type.resource}`;
    paths[base] = { post: operation(type, 'post'), get: operation(type, 'list') };
    paths[`${base}/{name}`] = {
      get: operation(type, 'get'),
      put: operation(type, 'put'),
      patch: operation(type, 'patch'),
      delete: operation(type, 'delete'),
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-aviary-kube-sim' },
    paths,
    components: { schemas: {} },
  };
}
