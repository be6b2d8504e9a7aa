/**
 * The plan of a release: the spec's waves resolved against the known clusters. Waves are taken in
 * spec order and the first wave that selects a cluster wins. Named clusters are kept in the order
 * written (even when no agent has registered yet: the wave waits for them, or an operator skips
 * them); selected clusters are taken in name order.
 */
import { compareStrings } from '../canary/evolve.ts';
import type { Fleet, LabelSelector } from '../spec/types.ts';
import type { ClusterInfo, PlannedWave } from './types.ts';

export function resolveWaves(fleet: Fleet, known: readonly ClusterInfo[]): PlannedWave[] {
  const taken = new Set<string>();
  const byName = [...known].sort((a, b) => compareStrings(a.name, b.name));
  return fleet.waves.map((wave) => {
    const candidates =
      wave.clusters !== undefined
        ? wave.clusters
        : byName.filter((c) => matches(wave.selector, c)).map((c) => c.name);
    const clusters: string[] = [];
    for (const name of candidates) {
      if (taken.has(name)) continue;
      taken.add(name);
      clusters.push(name);
    }
    return {
      name: wave.name,
      clusters,
      maxParallel: wave.maxParallel === 'all' ? 0 : wave.maxParallel,
      bakeMs: wave.bakeMs,
    };
  });
}

function matches(selector: LabelSelector | undefined, cluster: ClusterInfo): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  return wanted.every(([key, value]) => cluster.labels[key] === value);
}

/** Known clusters with `cluster` added or its labels replaced, sorted by name. */
export function withCluster(
  known: readonly ClusterInfo[],
  cluster: ClusterInfo,
): readonly ClusterInfo[] {
  const labels = Object.fromEntries(
    Object.entries(cluster.labels).sort(([a], [b]) => compareStrings(a, b)),
  );
  return [...known.filter((c) => c.name !== cluster.name), { name: cluster.name, labels }].sort(
    (a, b) => compareStrings(a.name, b.name),
  );
}
