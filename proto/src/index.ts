/**
 * @aviary/proto: Aviary's wire and log schemas (protobuf packages `aviary.<area>.v1`) and their
 * generated TypeScript. Everything that crosses a process boundary (agent observations and
 * commands, analysis requests and verdicts) or is stored in the event log (release events) is one
 * of these messages. See docs/wire-schemas.md.
 *
 * Generated code lives in `../gen` (JavaScript plus declarations, so that Node runs it without a
 * TypeScript step); this file is the only entry point and names every export.
 */
import { AviaryError, ErrorCode } from '@aviary/core';
import type { DescMessage } from '@bufbuild/protobuf';
import { AgentCommandSchema } from '../gen/aviary/agent/v1/command_pb.js';
import { ObservationSchema } from '../gen/aviary/agent/v1/observation_pb.js';
import {
  AnalysisRequestSchema,
  AnalysisVerdictSchema,
} from '../gen/aviary/analysis/v1/analysis_pb.js';
import {
  GateChangedSchema,
  ReleaseCreatedSchema,
} from '../gen/aviary/release/v1/application_events_pb.js';
import {
  CanaryCheckFailedSchema,
  CanaryCheckHeldSchema,
  CanaryIterationCompletedSchema,
  CanaryPhaseChangedSchema,
  CanaryPromotedSchema,
  CanaryRolledBackSchema,
  CanaryWeightAppliedSchema,
  ClusterCanaryInitializedSchema,
} from '../gen/aviary/release/v1/canary_events_pb.js';
import {
  AnalysisRequestedSchema,
  CanaryFinalizationRequestedSchema,
  CanaryPromotionRequestedSchema,
  CanaryScaleRequestedSchema,
  CanaryScaleToZeroRequestedSchema,
  CanaryWeightRequestedSchema,
  ClusterCanaryInitializationRequestedSchema,
  ClusterRevertRequestedSchema,
  NotificationRequestedSchema,
  WebhookRequestedSchema,
} from '../gen/aviary/release/v1/effect_events_pb.js';
import {
  ClusterJoinedSchema,
  ClusterRequeuedSchema,
  ClusterRevertedSchema,
  ClusterRevertFailedSchema,
  ClusterSkippedSchema,
  FleetHaltedSchema,
  ReleaseFinishedSchema,
  ReleasePausedSchema,
  ReleaseResumedSchema,
  ReleaseStartedSchema,
  WaveBakingSchema,
  WaveStartedSchema,
  WaveSucceededSchema,
} from '../gen/aviary/release/v1/fleet_events_pb.js';
import {
  AnalysisVerdictRecordedSchema,
  ObservationRecordedSchema,
  OperatorActionRecordedSchema,
  RolloutSpecAppliedSchema,
  SupersessionRecordedSchema,
  TickRecordedSchema,
  WebhookResultRecordedSchema,
} from '../gen/aviary/release/v1/input_events_pb.js';

export {
  type AgentCommand,
  type AgentCommandJson,
  AgentCommandSchema,
  type FinalizeTarget,
  type FinalizeTargetJson,
  FinalizeTargetSchema,
  type GatewayRef,
  type GatewayRefJson,
  GatewayRefSchema,
  type InitializeTarget,
  type InitializeTargetJson,
  InitializeTargetSchema,
  type PromoteCanary,
  type PromoteCanaryJson,
  PromoteCanarySchema,
  type RenewLease,
  type RenewLeaseJson,
  RenewLeaseSchema,
  type RevertPrimary,
  type RevertPrimaryJson,
  RevertPrimarySchema,
  type ScaleCanary,
  type ScaleCanaryJson,
  ScaleCanarySchema,
  type ScaleCanaryToZero,
  type ScaleCanaryToZeroJson,
  ScaleCanaryToZeroSchema,
  type ServiceSpec,
  type ServiceSpecJson,
  ServiceSpecSchema,
  type SetRoutes,
  type SetRoutesJson,
  SetRoutesSchema,
} from '../gen/aviary/agent/v1/command_pb.js';
export {
  CommandOutcome,
  type CommandOutcomeJson,
  CommandOutcomeSchema,
  type CommandResult,
  type CommandResultJson,
  CommandResultSchema,
  ConditionStatus,
  type ConditionStatusJson,
  ConditionStatusSchema,
  DeploymentRole,
  type DeploymentRoleJson,
  DeploymentRoleSchema,
  type Heartbeat,
  type HeartbeatJson,
  HeartbeatSchema,
  type Observation,
  type ObservationJson,
  ObservationSchema,
  type RevisionSeen,
  type RevisionSeenJson,
  RevisionSeenSchema,
  type RoutesApplied,
  type RoutesAppliedJson,
  RoutesAppliedSchema,
  type WorkloadCondition,
  type WorkloadConditionJson,
  WorkloadConditionSchema,
  type WorkloadReadiness,
  type WorkloadReadinessJson,
  WorkloadReadinessSchema,
} from '../gen/aviary/agent/v1/observation_pb.js';
export {
  type RouteMatch,
  type RouteMatchJson,
  RouteMatchSchema,
  type Routes,
  type RoutesJson,
  RoutesSchema,
  SameSite,
  type SameSiteJson,
  SameSiteSchema,
  type SessionAffinity,
  type SessionAffinityJson,
  SessionAffinitySchema,
  type StringMatch,
  type StringMatchJson,
  StringMatchSchema,
} from '../gen/aviary/agent/v1/routes_pb.js';
export {
  AnalysisOutcome,
  type AnalysisOutcomeJson,
  AnalysisOutcomeSchema,
  AnalysisPriority,
  type AnalysisPriorityJson,
  AnalysisPrioritySchema,
  type AnalysisRequest,
  type AnalysisRequestJson,
  AnalysisRequestSchema,
  type AnalysisVerdict,
  type AnalysisVerdictJson,
  AnalysisVerdictSchema,
  ErrorKind,
  type ErrorKindJson,
  ErrorKindSchema,
  type Evidence,
  type EvidenceJson,
  EvidenceSchema,
  type HistogramBucket,
  type HistogramBucketJson,
  HistogramBucketSchema,
  JudgeMethod,
  type JudgeMethodJson,
  JudgeMethodSchema,
  type RawPoint,
  type RawPointJson,
  RawPointSchema,
  type RawSeries,
  type RawSeriesJson,
  RawSeriesSchema,
  type RecordedSamples,
  type RecordedSamplesJson,
  RecordedSamplesSchema,
  type SampleCounts,
  type SampleCountsJson,
  SampleCountsSchema,
  type TemplateRef,
  type TemplateRefJson,
  TemplateRefSchema,
  type ThresholdRange,
  type ThresholdRangeJson,
  ThresholdRangeSchema,
  type WindowCounts,
  type WindowCountsJson,
  WindowCountsSchema,
  type WindowHistogram,
  type WindowHistogramJson,
  WindowHistogramSchema,
} from '../gen/aviary/analysis/v1/analysis_pb.js';
export {
  RouterKind,
  type RouterKindJson,
  RouterKindSchema,
} from '../gen/aviary/common/v1/router_pb.js';
// Generated schemas (`…Schema`), message types (`X`, and `XJson` for their canonical JSON) and
// enums, per package.
export {
  type Revision,
  type RevisionJson,
  RevisionSchema,
  WorkloadKind,
  type WorkloadKindJson,
  WorkloadKindSchema,
  type WorkloadRef,
  type WorkloadRefJson,
  WorkloadRefSchema,
} from '../gen/aviary/common/v1/workload_pb.js';
export {
  type GateChanged,
  type GateChangedJson,
  GateChangedSchema,
  type ReleaseCreated,
  type ReleaseCreatedJson,
  ReleaseCreatedSchema,
} from '../gen/aviary/release/v1/application_events_pb.js';
export {
  type CanaryCheckFailed,
  type CanaryCheckFailedJson,
  CanaryCheckFailedSchema,
  type CanaryCheckHeld,
  type CanaryCheckHeldJson,
  CanaryCheckHeldSchema,
  type CanaryIterationCompleted,
  type CanaryIterationCompletedJson,
  CanaryIterationCompletedSchema,
  type CanaryPhaseChanged,
  type CanaryPhaseChangedJson,
  CanaryPhaseChangedSchema,
  type CanaryPromoted,
  type CanaryPromotedJson,
  CanaryPromotedSchema,
  type CanaryRolledBack,
  type CanaryRolledBackJson,
  CanaryRolledBackSchema,
  type CanaryWeightApplied,
  type CanaryWeightAppliedJson,
  CanaryWeightAppliedSchema,
  type ClusterCanaryInitialized,
  type ClusterCanaryInitializedJson,
  ClusterCanaryInitializedSchema,
} from '../gen/aviary/release/v1/canary_events_pb.js';
export {
  type AnalysisRequested,
  type AnalysisRequestedJson,
  AnalysisRequestedSchema,
  type CanaryFinalizationRequested,
  type CanaryFinalizationRequestedJson,
  CanaryFinalizationRequestedSchema,
  type CanaryPromotionRequested,
  type CanaryPromotionRequestedJson,
  CanaryPromotionRequestedSchema,
  type CanaryScaleRequested,
  type CanaryScaleRequestedJson,
  CanaryScaleRequestedSchema,
  type CanaryScaleToZeroRequested,
  type CanaryScaleToZeroRequestedJson,
  CanaryScaleToZeroRequestedSchema,
  type CanaryWeightRequested,
  type CanaryWeightRequestedJson,
  CanaryWeightRequestedSchema,
  type ClusterCanaryInitializationRequested,
  type ClusterCanaryInitializationRequestedJson,
  ClusterCanaryInitializationRequestedSchema,
  type ClusterRevertRequested,
  type ClusterRevertRequestedJson,
  ClusterRevertRequestedSchema,
  type NotificationRequested,
  type NotificationRequestedJson,
  NotificationRequestedSchema,
  type WebhookRequested,
  type WebhookRequestedJson,
  WebhookRequestedSchema,
} from '../gen/aviary/release/v1/effect_events_pb.js';
export {
  type ClusterJoined,
  type ClusterJoinedJson,
  ClusterJoinedSchema,
  type ClusterRequeued,
  type ClusterRequeuedJson,
  ClusterRequeuedSchema,
  type ClusterReverted,
  type ClusterRevertedJson,
  ClusterRevertedSchema,
  type ClusterRevertFailed,
  type ClusterRevertFailedJson,
  ClusterRevertFailedSchema,
  type ClusterSkipped,
  type ClusterSkippedJson,
  ClusterSkippedSchema,
  type FleetHalted,
  type FleetHaltedJson,
  FleetHaltedSchema,
  type ReleaseFinished,
  type ReleaseFinishedJson,
  ReleaseFinishedSchema,
  type ReleasePaused,
  type ReleasePausedJson,
  ReleasePausedSchema,
  type ReleaseResumed,
  type ReleaseResumedJson,
  ReleaseResumedSchema,
  type ReleaseStarted,
  type ReleaseStartedJson,
  ReleaseStartedSchema,
  type WaveBaking,
  type WaveBakingJson,
  WaveBakingSchema,
  type WaveStarted,
  type WaveStartedJson,
  WaveStartedSchema,
  type WaveSucceeded,
  type WaveSucceededJson,
  WaveSucceededSchema,
} from '../gen/aviary/release/v1/fleet_events_pb.js';
export {
  type AnalysisVerdictRecorded,
  type AnalysisVerdictRecordedJson,
  AnalysisVerdictRecordedSchema,
  type ObservationRecorded,
  type ObservationRecordedJson,
  ObservationRecordedSchema,
  type OperatorActionRecorded,
  type OperatorActionRecordedJson,
  OperatorActionRecordedSchema,
  type RolloutSpecApplied,
  type RolloutSpecAppliedJson,
  RolloutSpecAppliedSchema,
  type SupersessionRecorded,
  type SupersessionRecordedJson,
  SupersessionRecordedSchema,
  type TickRecorded,
  type TickRecordedJson,
  TickRecordedSchema,
  type WebhookResultRecorded,
  type WebhookResultRecordedJson,
  WebhookResultRecordedSchema,
} from '../gen/aviary/release/v1/input_events_pb.js';
export {
  CanaryPhase,
  type CanaryPhaseJson,
  CanaryPhaseSchema,
  FailurePolicy,
  type FailurePolicyJson,
  FailurePolicySchema,
  NotificationSeverity,
  type NotificationSeverityJson,
  NotificationSeveritySchema,
  OperatorAction,
  type OperatorActionJson,
  OperatorActionSchema,
  ReleaseOutcome,
  type ReleaseOutcomeJson,
  ReleaseOutcomeSchema,
  type RolloutRef,
  type RolloutRefJson,
  RolloutRefSchema,
  type WavePlan,
  type WavePlanJson,
  WavePlanSchema,
  type WebhookCall,
  type WebhookCallJson,
  WebhookCallSchema,
  WebhookOutcome,
  type WebhookOutcomeJson,
  WebhookOutcomeSchema,
  type WebhookPayload,
  type WebhookPayloadJson,
  WebhookPayloadSchema,
  WebhookType,
  type WebhookTypeJson,
  WebhookTypeSchema,
} from '../gen/aviary/release/v1/types_pb.js';
export { compileJsonShape, type JsonShapeCheck } from './json-shape.ts';

/**
 * Every event of a release stream (package aviary.release.v1), in lifecycle order: inputs, fleet
 * decisions, cluster canary decisions, effects. The event type is the message name.
 */
export const releaseEventSchemas: readonly DescMessage[] = Object.freeze([
  // Inputs: recorded as they arrive, before the decider sees them.
  RolloutSpecAppliedSchema,
  ObservationRecordedSchema,
  AnalysisVerdictRecordedSchema,
  WebhookResultRecordedSchema,
  TickRecordedSchema,
  OperatorActionRecordedSchema,
  SupersessionRecordedSchema,
  // Decisions about the release and its waves.
  ReleaseStartedSchema,
  WaveStartedSchema,
  WaveBakingSchema,
  WaveSucceededSchema,
  ClusterSkippedSchema,
  ClusterRequeuedSchema,
  ClusterJoinedSchema,
  FleetHaltedSchema,
  ClusterRevertedSchema,
  ClusterRevertFailedSchema,
  ReleasePausedSchema,
  ReleaseResumedSchema,
  ReleaseFinishedSchema,
  // Decisions about one cluster canary.
  ClusterCanaryInitializedSchema,
  CanaryPhaseChangedSchema,
  CanaryWeightAppliedSchema,
  CanaryCheckFailedSchema,
  CanaryCheckHeldSchema,
  CanaryIterationCompletedSchema,
  CanaryPromotedSchema,
  CanaryRolledBackSchema,
  // Effects: decisions that something be sent, carrying the outgoing message.
  ClusterCanaryInitializationRequestedSchema,
  CanaryScaleRequestedSchema,
  CanaryWeightRequestedSchema,
  CanaryPromotionRequestedSchema,
  CanaryScaleToZeroRequestedSchema,
  CanaryFinalizationRequestedSchema,
  ClusterRevertRequestedSchema,
  AnalysisRequestedSchema,
  WebhookRequestedSchema,
  NotificationRequestedSchema,
]);

/**
 * Every event of an application stream (`rollout-<namespace>.<name>`): its spec, the releases
 * created for it, its manual gates.
 */
export const applicationEventSchemas: readonly DescMessage[] = Object.freeze([
  RolloutSpecAppliedSchema,
  ReleaseCreatedSchema,
  GateChangedSchema,
]);

/** Every message that may be stored as an event in the log. Event types (names) are unique. */
export const eventCatalogue: readonly DescMessage[] = Object.freeze([
  ...releaseEventSchemas,
  ReleaseCreatedSchema,
  GateChangedSchema,
]);

/** An agent's observation envelope (`aviary.v1.cluster.<cluster>.obs.<kind>`). */
export const observationSchema = ObservationSchema;
/** A command to an agent (`aviary.v1.cluster.<cluster>.cmd`). */
export const agentCommandSchema = AgentCommandSchema;
/** A check for the analyzer (`aviary.v1.analysis.req`). */
export const analysisRequestSchema = AnalysisRequestSchema;
/** The analyzer's answer (`aviary.v1.analysis.res`). */
export const analysisVerdictSchema = AnalysisVerdictSchema;

/**
 * The schema version of a message: the `N` of its package's `vN` segment
 * (`aviary.release.v1.TickRecorded` → 1). Throws a `CONFIG` error for a message whose package does
 * not end in a plain `vN` (no version, or a pre-release such as `v1beta1`): only versioned,
 * stable packages may be stored.
 */
export function schemaVersionOf(desc: DescMessage): number {
  const segments = desc.typeName.split('.');
  // Skip the message name and the names of enclosing messages (upper case by convention) back to
  // the last package segment.
  for (let i = segments.length - 2; i >= 0; i--) {
    const segment = segments[i] as string;
    const version = /^v([1-9][0-9]*)$/.exec(segment);
    if (version !== null) return Number(version[1]);
    if (!/^[A-Z]/.test(segment)) break;
  }
  throw new AviaryError(
    ErrorCode.Config,
    `${desc.typeName} is not in a versioned package (expected a last package segment such as "v1")`,
  );
}
