import type { JsonObject, JsonValue } from './reader.ts';

/**
 * The Rollout resource (`aviary.dev/v1alpha1`, `kind: Rollout`) as the decider sees it: the
 * normalized form `validateRollout` returns, with every default applied, durations in integer
 * milliseconds (`…Ms`), instants in epoch milliseconds and percentages as integers 0–100.
 *
 * Field names and meanings are Flagger's (`flagger.app/v1beta1` `Canary`) wherever Flagger has the
 * concept; `docs/rollout-spec.md` is the field-by-field reference, with every default and every
 * deliberate difference from Flagger. The normalized form is itself a valid input: validating it
 * again returns an equal value.
 */

export const API_VERSION = 'aviary.dev/v1alpha1';
export const KIND = 'Rollout';

/** Traffic routers, with Flagger's `spec.provider` names. `kubernetes` is "no router" (blue/green only). */
export const Provider = {
  Istio: 'istio',
  Linkerd: 'linkerd',
  Nginx: 'nginx',
  GatewayApiV1: 'gatewayapi:v1',
  GatewayApiV1beta1: 'gatewayapi:v1beta1',
  SmiV1alpha1: 'smi:v1alpha1',
  SmiV1alpha2: 'smi:v1alpha2',
  SmiV1alpha3: 'smi:v1alpha3',
  Kubernetes: 'kubernetes',
} as const;
/** A Flagger provider name; SMI may carry a mesh suffix (`smi:v1alpha3:linkerd`). */
export type Provider =
  | (typeof Provider)[keyof typeof Provider]
  | `smi:${'v1alpha1' | 'v1alpha2' | 'v1alpha3'}:${string}`;

/** The router family that implements a provider (one traffic-router implementation each). */
export const RouterKind = {
  Istio: 'istio',
  GatewayApi: 'gatewayapi',
  Nginx: 'nginx',
  Smi: 'smi',
  None: 'none',
} as const;
export type RouterKind = (typeof RouterKind)[keyof typeof RouterKind];

/** How traffic moves, derived from the analysis block with Flagger's rules (see `deriveStrategy`). */
export const Strategy = {
  /** Progressive weights: `stepWeight` or `stepWeights`, optionally one mirrored tick first. */
  Canary: 'canary',
  /** A/B testing: `iterations` with `match`; matching requests go to the canary. */
  AB: 'ab',
  /** Blue/green: `iterations`, canary reached only through `<svc>-canary`, then switched. */
  BlueGreen: 'blue-green',
  /** Blue/green with `mirror`: live traffic is shadowed to the canary during the iterations. */
  BlueGreenMirror: 'blue-green-mirror',
} as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

export const WebhookType = {
  ConfirmRollout: 'confirm-rollout',
  PreRollout: 'pre-rollout',
  Rollout: 'rollout',
  ConfirmTrafficIncrease: 'confirm-traffic-increase',
  ConfirmPromotion: 'confirm-promotion',
  PostRollout: 'post-rollout',
  Rollback: 'rollback',
  Event: 'event',
} as const;
export type WebhookType = (typeof WebhookType)[keyof typeof WebhookType];

export const BuiltinMetric = {
  /** Percentage (0–100) of non-5xx responses. */
  RequestSuccessRate: 'request-success-rate',
  /** P99 latency in milliseconds (mean for NGINX). */
  RequestDuration: 'request-duration',
} as const;
export type BuiltinMetric = (typeof BuiltinMetric)[keyof typeof BuiltinMetric];

export const AlertSeverity = { Info: 'info', Warn: 'warn', Error: 'error' } as const;
export type AlertSeverity = (typeof AlertSeverity)[keyof typeof AlertSeverity];

export const FailurePolicy = {
  /** A failed cluster stops the fleet: no further wave starts, running canaries roll back. */
  Halt: 'halt',
  /** As `halt`, and clusters already promoted in this release go back to the previous revision. */
  HaltAndRevert: 'halt-and-revert',
} as const;
export type FailurePolicy = (typeof FailurePolicy)[keyof typeof FailurePolicy];

export const TargetKind = { Deployment: 'Deployment', DaemonSet: 'DaemonSet' } as const;
export type TargetKind = (typeof TargetKind)[keyof typeof TargetKind];

export const AutoscalerKind = {
  HorizontalPodAutoscaler: 'HorizontalPodAutoscaler',
  ScaledObject: 'ScaledObject',
} as const;
export type AutoscalerKind = (typeof AutoscalerKind)[keyof typeof AutoscalerKind];

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Defaults applied by `validateRollout`; Flagger's where Flagger has the field. */
export const ROLLOUT_DEFAULTS = {
  namespace: 'default',
  provider: Provider.Istio,
  progressDeadlineSeconds: 600,
  portName: 'http',
  istioGateways: ['mesh'],
  intervalMs: 60_000,
  /** Flagger's floor: a shorter `interval` is raised to this. */
  minIntervalMs: 10_000,
  /** The floor of Aviary's own `intervalMs` field (not Flagger's): simulated fleets and tests. */
  minIntervalMsAviary: 1_000,
  threshold: 1,
  maxWeight: 100,
  readyThresholdPercent: 100,
  maxHeldChecks: 10,
  /**
   * `resultTimeout` defaults to the interval plus this: Datadog's default ingestion delay (2 min)
   * and a round of the analyzer (up to 1 min), so a slow provider's verdicts are judged, not held.
   */
  resultTimeoutSlackMs: 180_000,
  metricIntervalMs: 60_000,
  webhookTimeoutMs: 10_000,
  sessionAffinityMaxAgeSeconds: 86_400,
  waveName: 'default',
  maxParallel: 1,
  bakeMs: 0,
  failurePolicy: FailurePolicy.Halt,
  utcOffset: '+00:00',
} as const;

export interface Rollout {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof KIND;
  readonly metadata: RolloutMetadata;
  readonly spec: RolloutSpec;
}

export interface RolloutMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface RolloutSpec {
  readonly targetRef: TargetRef;
  readonly provider: Provider;
  readonly service: ServiceSpec;
  /** NGINX: the Ingress cloned as `<name>-canary`. Required with provider `nginx`. */
  readonly ingressRef?: ObjectRef<'Ingress'>;
  readonly autoscalerRef?: AutoscalerRef;
  /** Prometheus URL Flagger used for built-in metrics; kept for import fidelity, read by the analyzer. */
  readonly metricsServer?: string;
  readonly progressDeadlineSeconds: number;
  readonly skipAnalysis: boolean;
  readonly suspend: boolean;
  readonly revertOnDeletion: boolean;
  /** Derived from `analysis` (never chosen independently); on input it must match when present. */
  readonly strategy: Strategy;
  readonly analysis: Analysis;
  readonly fleet: Fleet;
}

export interface ObjectRef<K extends string = string> {
  readonly apiVersion: string;
  readonly kind: K;
  readonly name: string;
}

export type TargetRef = ObjectRef<TargetKind>;

/**
 * Only `HorizontalPodAutoscaler` passes validation (`ScaledObject` and `primaryScalerQueries` are
 * refused until the cluster agent copies KEDA ScaledObjects). `primaryScalerReplicas` travels to
 * the agent in `InitializeTarget` and bounds the `<hpa>-primary` copy.
 */
export interface AutoscalerRef extends ObjectRef<AutoscalerKind> {
  readonly primaryScalerReplicas?: { readonly minReplicas?: number; readonly maxReplicas?: number };
}

export interface ServiceSpec {
  /** Apex service name (default `targetRef.name`); Aviary adds `<name>-primary` and `<name>-canary`. */
  readonly name: string;
  readonly port: number;
  readonly portName: string;
  readonly targetPort: number | string;
  readonly appProtocol?: string;
  readonly portDiscovery: boolean;
  readonly headless: boolean;
  readonly trafficDistribution?: 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';
  readonly timeoutMs?: number;
  readonly backendTimeoutMs?: number;
  /** Istio VirtualService gateways; `['mesh']` by default with Istio, empty otherwise. */
  readonly gateways: readonly string[];
  /** Gateway API parent references; required with `gatewayapi:*`. */
  readonly gatewayRefs: readonly GatewayRef[];
  readonly hosts: readonly string[];
  readonly delegation: boolean;
  /** Istio HTTPMatchRequest list for the generated route. */
  readonly match: readonly JsonObject[];
  /** Pass-through router objects, kept as given (Istio / Gateway API shapes). */
  readonly trafficPolicy?: JsonValue;
  readonly rewrite?: JsonValue;
  readonly retries?: JsonValue;
  readonly headers?: JsonValue;
  readonly mirror?: JsonValue;
  readonly corsPolicy?: JsonValue;
  readonly apex?: GeneratedMetadata;
  readonly primary?: GeneratedMetadata;
  readonly canary?: GeneratedMetadata;
  readonly unmanagedMetadata?: {
    readonly labels: readonly string[];
    readonly annotations: readonly string[];
  };
}

export interface GatewayRef {
  readonly name: string;
  readonly namespace?: string;
  readonly sectionName?: string;
  readonly port?: number;
  readonly group?: string;
  readonly kind?: string;
}

export interface GeneratedMetadata {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface Analysis {
  /** Tick period; at least 10 s (Flagger's floor: shorter values are raised to 10 s). */
  readonly intervalMs: number;
  /** Cumulative failed checks in one run before rollback. */
  readonly threshold: number;
  /** Canary weight at/above which promotion starts; with `stepWeights`, their last step (≤ 100). */
  readonly maxWeight: number;
  readonly stepWeight: number;
  readonly stepWeights: readonly number[];
  /** Primary weight added per tick while promoting; 0 = all traffic back in one tick. */
  readonly stepWeightPromotion: number;
  /** > 0 selects blue/green, or A/B with `match`. */
  readonly iterations: number;
  /** Istio HTTPMatchRequest list: A/B routing conditions. */
  readonly match: readonly JsonObject[];
  readonly mirror: boolean;
  /** Percentage of mirrored requests (Istio only); 0 = all (Flagger's meaning). */
  readonly mirrorWeight: number;
  readonly sessionAffinity?: SessionAffinity;
  readonly canaryReadyThreshold: number;
  readonly primaryReadyThreshold: number;
  /**
   * Aviary: consecutive `Inconclusive`/`Error` verdicts that hold the canary before it pauses for
   * a human. Such verdicts never count as failed checks.
   */
  readonly maxHeldChecks: number;
  /**
   * Aviary: how long after the tick that asked for an interval's checks their results are still
   * awaited. Until then later due ticks keep that interval open (no new interval, no step); the
   * first due tick at or after it holds the checks still unanswered. At least `intervalMs`;
   * default `intervalMs` + 3 min. Absent in specs recorded before the field existed: those
   * releases replay with the old rule (`intervalMs`: unanswered at the next due tick = held).
   */
  readonly resultTimeoutMs?: number;
  readonly metrics: readonly Metric[];
  readonly webhooks: readonly Webhook[];
  readonly alerts: readonly Alert[];
}

export interface SessionAffinity {
  readonly cookieName: string;
  readonly primaryCookieName?: string;
  readonly domain?: string;
  readonly httpOnly: boolean;
  readonly maxAge: number;
  readonly partitioned: boolean;
  readonly path?: string;
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
  readonly secure: boolean;
}

export interface Metric {
  /** A built-in (`request-success-rate`, `request-duration`) when there is no `templateRef`. */
  readonly name: string;
  readonly intervalMs: number;
  /** Inclusive bounds; at least one. Success rate in %, duration in ms. */
  readonly thresholdRange: { readonly min?: number; readonly max?: number };
  readonly templateRef?: { readonly name: string; readonly namespace: string };
  readonly templateVariables: Readonly<Record<string, string>>;
  /**
   * Aviary's own: how the analyzer judges the check. Absent: Flagger's threshold on the value.
   * `comparison`: the canary against its primary with the always-valid sequential test, for the
   * built-in `request-duration` (requests slower than `thresholdRange.max` ms, from the router's
   * histogram buckets; Prometheus) and for counts templates (errors vs requests).
   */
  readonly judge?: MetricJudge;
}

/** `metrics[].judge`. */
export type MetricJudge = 'threshold' | 'comparison';

export interface Webhook {
  readonly name: string;
  readonly type: WebhookType;
  readonly url: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly muteAlert: boolean;
  readonly disableTLS: boolean;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface Alert {
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly providerRef: { readonly name: string; readonly namespace: string };
}

export interface Fleet {
  /** Run in order; a wave starts only after the previous one succeeded and baked. */
  readonly waves: readonly Wave[];
  readonly failurePolicy: FailurePolicy;
  readonly freezeWindows: readonly FreezeWindow[];
}

export interface Wave {
  readonly name: string;
  /** Exactly one of `clusters` (names) and `selector` (labels) is set. */
  readonly clusters?: readonly string[];
  readonly selector?: LabelSelector;
  /** Clusters of this wave running their canary at once; `'all'` = no limit. */
  readonly maxParallel: number | 'all';
  /** Time the wave must stay healthy after it succeeded, before the next wave (or the end). */
  readonly bakeMs: number;
}

export interface LabelSelector {
  /** All must match; empty = every cluster. */
  readonly matchLabels: Readonly<Record<string, string>>;
}

/** No wave starts while one of these is active; running waves continue. Half-open [start, end). */
export type FreezeWindow = AbsoluteFreezeWindow | WeeklyFreezeWindow;

export interface AbsoluteFreezeWindow {
  readonly name?: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface WeeklyFreezeWindow {
  readonly name?: string;
  readonly weekly: {
    /** `Fri 18:00` */
    readonly start: string;
    /** `Mon 08:00`; at or before `start` means the window wraps over the end of the week. */
    readonly end: string;
    /** Fixed offset from UTC the times are in, `+01:00` (no daylight-saving rules). */
    readonly utcOffset: string;
  };
}
