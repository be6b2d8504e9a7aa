/**
 * The Grafana dashboard (`infra/grafana/aviary.json`) queries only metrics the services register,
 * with labels those metrics have: each service's metric modules are registered into one fresh
 * registry, as `aviary dev` does, and every query of every panel is checked against it.
 */
import { readFileSync } from 'node:fs';
import { collectProcessMetrics, Registry } from '@aviary/platform';
import { describe, expect, it } from 'vitest';
import { analyzerMetrics } from '../services/analyzer/src/service/telemetry.ts';
import { kubeMetrics } from '../services/cluster-agent/src/kube/kube-telemetry.ts';
import { agentMessagingMetrics } from '../services/cluster-agent/src/messaging/command-telemetry.ts';
import { orchestratorMetrics } from '../services/orchestrator/src/metrics.ts';

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
  readonly datasource?: { readonly uid: string };
}

const dashboard = JSON.parse(
  readFileSync(new URL('../infra/grafana/aviary.json', import.meta.url), 'utf8'),
) as { uid: string; title: string; panels: Panel[] };

function servicesRegistry(): Registry {
  const registry = new Registry();
  orchestratorMetrics(registry);
  analyzerMetrics(registry);
  agentMessagingMetrics(registry);
  kubeMetrics(registry);
  collectProcessMetrics(registry);
  return registry;
}

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
const METRIC = /\b((?:aviary|process|nodejs)_[a-z0-9_]+)\b/g;

describe('the Grafana dashboard', () => {
  const queries = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
  );

  it('is a dashboard with queries on every graph panel', () => {
    expect(dashboard.uid).toBe('aviary-overview');
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable, not JavaScript's.
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
    }
  });

  it('queries only metrics that the services register, by labels they have', async () => {
    const registry = servicesRegistry();
    const registered = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set<string>();
    for (const { panel, expr } of queries) {
      const names = [...expr.matchAll(METRIC)].map((m) => m[1] ?? '');
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      const labels = new Set(TARGET_LABELS);
      for (const name of names) {
        expect(registered, `${panel}: ${name} is not registered by any service`).toContain(name);
        used.add(name);
        const metric = registry.getSingleMetric(name) as unknown as { labelNames?: string[] };
        for (const label of metric.labelNames ?? []) labels.add(label);
      }
      const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) =>
        (m[1] ?? '').split(',').map((l) => l.trim()),
      );
      const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
        (m[1] ?? '').split(',').map((pair) => pair.split(/[=!~]/)[0]?.trim() ?? ''),
      );
      for (const label of [...grouped, ...matched].filter((l) => l !== '')) {
        expect([...labels], `${panel}: label ${label} in ${expr}`).toContain(label);
      }
    }
    // Every Aviary metric is on the dashboard.
    const aviary = [...registered].filter((name) => name.startsWith('aviary_'));
    expect(aviary.filter((name) => !used.has(name))).toEqual([]);
  });
});
