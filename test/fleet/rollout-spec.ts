/** The Rollout the end-to-end tests release: two waves, 2 s analysis interval, one metric. */

export const INTERVAL_MS = 3000;

/**
 * The fleet the tests release to: verdicts must arrive before the next tick (a check unanswered
 * at the next tick is held, and ten holds in a row pause the canary), so the analyzer's ingestion
 * delay plus its round must stay well under the interval: 1 s delay with 1 s scrapes gives
 * verdicts ~1.3 s after the window closes, and a 3 s interval leaves room for a loaded CI machine.
 */
export const FLEET_OPTIONS = { database: true, ingestionDelayMs: 1000 } as const;

export const rolloutSpec = (minSuccessRate = 99) => `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: podinfo, namespace: shop }
spec:
  targetRef: { kind: Deployment, name: podinfo }
  provider: istio
  service: { port: 80, targetPort: http }
  fleet:
    failurePolicy: halt
    waves:
      - { name: canary, clusters: [eu-1], bake: 3s }
      - { name: rest, clusters: [eu-2, us-1], maxParallel: all, bake: 0s }
  analysis:
    intervalMs: ${INTERVAL_MS}
    threshold: 1
    stepWeight: 50
    maxWeight: 50
    metrics:
      - name: request-success-rate
        intervalMs: ${INTERVAL_MS}
        thresholdRange: { min: ${minSuccessRate} }
    alerts:
      - { name: ops, severity: info, providerRef: { name: ops, namespace: shop } }
`;
