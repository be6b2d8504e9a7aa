/**
 * The metrics backend of `aviary dev`: the Datadog simulator (`@aviary/datadog-sim`, Datadog's
 * query API on a local port, with its rate limits) fed by the simulated clusters' traffic, and
 * queried by the real analyzer through its real Datadog provider.
 *
 * Why Datadog and not Prometheus: a Prometheus server is a separate program to install, and the
 * point of `npm start` is that nothing needs installing; the Datadog simulator is a library. What
 * it is fed is what Datadog's APM would report for each request a Pod answers:
 * `trace.http.request.hits` and `trace.http.request.errors` (status ≥ 500) with the tags
 * `kube_cluster_name`, `kube_namespace` and `kube_deployment` (the Pod's Deployment: `podinfo` is
 * the canary, `podinfo-primary` the primary). Requests are counted in slots of `slotMs` and each
 * finished slot is added as one point per series (errors included when 0, so that a healthy
 * canary's success rate is a number, not "no data"), stamped with the slot's start.
 *
 * The analyzer's template for `request-success-rate` is the value form, Flagger's semantics: the
 * percentage of non-5xx requests in the window, judged against the Rollout's `thresholdRange`
 * (`SUCCESS_RATE_TEMPLATES`). The counts form (Wilson bounds, sample-size aware) would need a few
 * hundred requests per window to pass a 99 % threshold, far more traffic than a laptop demo
 * should simulate.
 */

import { type DatadogSim, startDatadogSim } from '@aviary/datadog-sim';
import type { KubeSim, SimulatedRequest } from '@aviary/kube-sim';

/** The simulator's default organisation's keys (not secrets: they open a local simulator). */
export const DEMO_DATADOG_KEYS = { apiKey: 'dev-api-key', appKey: 'dev-app-key' } as const;

const SCOPE =
  'kube_cluster_name:{{ cluster }},kube_namespace:{{ namespace }},kube_deployment:{{ target }}';

/** The analyzer's metric templates (`AVIARY_METRIC_TEMPLATES` form). */
export const SUCCESS_RATE_TEMPLATES = {
  'request-success-rate': {
    provider: 'datadog',
    query:
      `100 - sum:trace.http.request.errors{${SCOPE}}.as_count() ` +
      `/ sum:trace.http.request.hits{${SCOPE}}.as_count() * 100`,
  },
} as const;

export interface DemoMetricsOptions {
  readonly clusters: KubeSim;
  /** Counting slot; default 250 ms (the traffic simulator's tick). */
  readonly slotMs?: number;
  /** Points older than this are dropped; default 15 min. */
  readonly retentionMs?: number;
  readonly host?: string;
}

export interface DemoMetrics {
  readonly datadog: DatadogSim;
  /** Points added so far (two per series and slot). */
  readonly points: number;
  close(): Promise<void>;
}

export async function startDemoMetrics(options: DemoMetricsOptions): Promise<DemoMetrics> {
  const slotMs = options.slotMs ?? 250;
  const retentionMs = options.retentionMs ?? 15 * 60_000;
  const datadog = await startDatadogSim(options.host === undefined ? {} : { host: options.host });
  /** Per slot start: per series key, its tags and counts. */
  const slots = new Map<
    number,
    Map<string, { tags: Record<string, string>; hits: number; errors: number }>
  >();
  let points = 0;

  const count = (cluster: string, request: SimulatedRequest) => {
    const destination = request.destination;
    if (destination === undefined) return; // no Pod answered: no trace to report
    const slot = Math.floor(Date.now() / slotMs) * slotMs;
    let series = slots.get(slot);
    if (series === undefined) {
      series = new Map();
      slots.set(slot, series);
    }
    const key = `${cluster}/${destination.namespace}/${destination.workload}`;
    let cell = series.get(key);
    if (cell === undefined) {
      cell = {
        tags: {
          kube_cluster_name: cluster,
          kube_namespace: destination.namespace,
          kube_deployment: destination.workload,
        },
        hits: 0,
        errors: 0,
      };
      series.set(key, cell);
    }
    cell.hits += 1;
    if (request.code >= 500) cell.errors += 1;
  };

  const unsubscribes = options.clusters.clusters.map((cluster) =>
    cluster.traffic.subscribe((request) => count(cluster.name, request)),
  );

  /** Adds every finished slot (the current one is still counting). */
  const flush = (all: boolean) => {
    const current = Math.floor(Date.now() / slotMs) * slotMs;
    for (const [slot, series] of slots) {
      if (slot >= current && !all) continue;
      for (const cell of series.values()) {
        datadog.series.add('trace.http.request.hits', cell.tags, [{ tMs: slot, value: cell.hits }]);
        datadog.series.add('trace.http.request.errors', cell.tags, [
          { tMs: slot, value: cell.errors },
        ]);
        points += 2;
      }
      slots.delete(slot);
    }
  };
  const flushing = setInterval(() => flush(false), slotMs);
  const pruning = setInterval(() => datadog.series.prune(Date.now() - retentionMs), 60_000);

  return {
    datadog,
    get points() {
      return points;
    },
    async close() {
      clearInterval(flushing);
      clearInterval(pruning);
      for (const unsubscribe of unsubscribes) unsubscribe();
      flush(true);
      await datadog.close();
    },
  };
}
