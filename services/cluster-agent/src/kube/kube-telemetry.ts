/**
 * A span and a count for every Kubernetes API call the agent makes through the guarded port
 * (`permissions.ts`): spans `kube <verb> <resource>` (kind CLIENT, children of the command being
 * handled, so a trace shows which calls a decision caused), and
 * `aviary_agent_kube_requests_total{resource, verb, outcome}` with `outcome` the call's answer:
 * `ok`, `created`, `exists`, `replaced`, `conflict`, `not-found`, `deleted`, `refused` (not in the
 * permission table), or `error` (the API server refused or could not be reached).
 */
import { SpanKinds, withSpan } from '@aviary/messaging';
import { Counter, metricsOf, metricsRegistry, type Registry } from '@aviary/platform';
import { KubeApiError } from './kube-client.ts';

export function kubeMetrics(registry: Registry = metricsRegistry) {
  return metricsOf(registry, 'aviary_agent_kube', (r) => ({
    requests: new Counter({
      name: 'aviary_agent_kube_requests_total',
      help: 'Kubernetes API calls made by the agent, by resource, verb and outcome.',
      labelNames: ['resource', 'verb', 'outcome'] as const,
      registers: [r],
    }),
  }));
}

/** What a call answered, as a label value. */
function outcomeOf(result: unknown): string {
  if (result === undefined) return 'not-found';
  if (typeof result === 'string') return result;
  if (typeof result === 'object' && result !== null && 'outcome' in result) {
    return String((result as { outcome: unknown }).outcome);
  }
  return 'ok';
}

/** Runs one call (the permission check included) in its span, and counts it. */
export async function tracedKubeCall<T>(
  resource: string,
  verb: string,
  namespace: string,
  call: () => Promise<T>,
): Promise<T> {
  let outcome = 'error';
  try {
    return await withSpan(
      `kube ${verb} ${resource}`,
      {
        kind: SpanKinds.Client,
        attributes: {
          'k8s.resource': resource,
          'k8s.verb': verb,
          ...(namespace === '' ? {} : { 'k8s.namespace.name': namespace }),
        },
      },
      async (span) => {
        try {
          const result = await call();
          outcome = outcomeOf(result);
          span?.setAttribute('k8s.outcome', outcome);
          return result;
        } catch (error) {
          if (error instanceof KubeApiError)
            span?.setAttribute('http.response.status_code', error.status);
          else if (error instanceof Error && error.name === 'NotGrantedError') outcome = 'refused';
          throw error;
        }
      },
    );
  } finally {
    kubeMetrics().requests.labels(resource, verb, outcome).inc();
  }
}
