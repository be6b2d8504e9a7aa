/**
 * The running orchestrator the CLI talks to (`@aviary/orchestrator/testing`: engine, projections
 * on a PGlite log in a temporary directory, HTTP API, webhook dispatcher, a `SimulatedFleet`),
 * with the CLI tests' tokens and clusters, the fleet's heartbeats already in.
 */
import { type RunningOrchestrator, startRunningOrchestrator } from '@aviary/orchestrator/testing';

export type { RunningOrchestrator };

export const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
} as const;

export const CLUSTERS = [
  { name: 'eu-1', labels: { region: 'eu' } },
  { name: 'eu-2', labels: { region: 'eu' } },
  { name: 'us-1', labels: { region: 'us' } },
];

export async function startOrchestrator(): Promise<RunningOrchestrator> {
  const orchestrator = await startRunningOrchestrator({
    tokens: [
      { name: 'vera', role: 'viewer', token: TOKENS.viewer },
      { name: 'otto', role: 'operator', token: TOKENS.operator },
    ],
    clusters: CLUSTERS,
  });
  await orchestrator.fleet.heartbeats();
  return orchestrator;
}
