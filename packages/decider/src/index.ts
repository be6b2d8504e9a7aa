export { decideCanary } from './canary/decide.ts';
export {
  type ClusterCanaryDecider,
  createClusterCanaryDecider,
  type Decider,
} from './canary/decider.ts';
export { evolveCanary, initialCanaryState } from './canary/evolve.ts';
export { compact, formatTimestamp, parseTimestamp } from './canary/json.ts';
export { type Readiness, readinessOf } from './canary/readiness.ts';
export {
  type AwaitedResult,
  type CanaryCommand,
  type CanaryContext,
  type CanaryDecisionEvent,
  type CanaryEvent,
  type CanaryEventType,
  type CanaryInputEvent,
  CanaryPhase,
  CheckOutcome,
  type ClusterCanaryState,
  CommandKind,
  type Interval,
  type OutstandingCommand,
} from './canary/types.ts';
export { decideRelease, workloadOf } from './fleet/decide.ts';
export { createReleaseDecider, type ReleaseDecider } from './fleet/decider.ts';
export {
  type CanaryOf,
  clusterOfEvent,
  evolveRelease,
  initialReleaseState,
  isFleetEvent,
} from './fleet/evolve.ts';
export { resolveWaves } from './fleet/plan.ts';
export {
  type ClusterInfo,
  type ClusterRevert,
  FLEET_ACTOR,
  type FleetEvent,
  type PlannedWave,
  type ReleaseCommand,
  type ReleaseContext,
  type ReleaseEvent,
  type ReleaseState,
  RevertStatus,
  WaveStatus,
} from './fleet/types.ts';
export { canonicalEvent, canonicalJson } from './replay/canonical-json.ts';
export { DeterminismError } from './replay/determinism-error.ts';
export {
  commandOf,
  contextOf,
  type HistoryOptions,
  INPUT_FACT_TYPES,
  isInputFact,
  type RecordedEvent,
} from './replay/history.ts';
export { type ReplayResult, replay, replayOrThrow, stateAt } from './replay/replay.ts';
export {
  type ClusterComparison,
  type Outcome,
  type TimedEvent,
  type WhatIfReport,
  whatIf,
} from './replay/what-if.ts';
export {
  DEFAULT_START,
  parseScenario,
  runScenario,
  type ScenarioRun,
  type TickLine,
  timelineOf,
  validateScenario,
} from './scenario/run-scenario.ts';
export type {
  Behaviour,
  Expectation,
  OperatorStep,
  Scenario,
  Step,
  VerdictOutcome,
  WebhookOutcome,
} from './scenario/types.ts';
export { formatDurationMs, parseDurationMs } from './spec/duration.ts';
export {
  FLAGGER_API_VERSION,
  type FlaggerImport,
  type FlaggerImportOptions,
  type ImportNote,
  importFlaggerCanary,
  MetricProviderType,
  type MetricTemplate,
} from './spec/flagger-import.ts';
export { activeFreezeWindow, isFrozenAt } from './spec/freeze-window.ts';
export {
  type DocumentFormat,
  MAX_DOCUMENT_CHARS,
  MAX_YAML_ALIASES,
  parseRollout,
} from './spec/parse-rollout.ts';
export type { JsonObject, JsonValue } from './spec/reader.ts';
export {
  deriveStrategy,
  routerOf,
  supportsMatch,
  supportsMirror,
  supportsSessionAffinity,
} from './spec/strategy.ts';
export {
  type AbsoluteFreezeWindow,
  type Alert,
  AlertSeverity,
  type Analysis,
  API_VERSION,
  AutoscalerKind,
  type AutoscalerRef,
  BuiltinMetric,
  FailurePolicy,
  type Fleet,
  type FreezeWindow,
  type GatewayRef,
  type GeneratedMetadata,
  KIND,
  type LabelSelector,
  type Metric,
  type MetricJudge,
  type ObjectRef,
  Provider,
  ROLLOUT_DEFAULTS,
  type Rollout,
  type RolloutMetadata,
  type RolloutSpec,
  RouterKind,
  type ServiceSpec,
  type SessionAffinity,
  Strategy,
  TargetKind,
  type TargetRef,
  type Wave,
  type Webhook,
  WebhookType,
  type WeeklyFreezeWindow,
} from './spec/types.ts';
export { validateRollout, withCurrentDefaults } from './spec/validate-rollout.ts';
export {
  DeciderSpecification,
  type DeciderSpecificationOptions,
  type Then,
  type When,
} from './testing/decider-specification.ts';
