import { create, type DescMessage, type Message, type MessageInitShape } from '@bufbuild/protobuf';
import { type Timestamp, timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  type AgentCommand,
  AgentCommandSchema,
  AnalysisOutcome,
  AnalysisPriority,
  type AnalysisRequest,
  AnalysisRequestedSchema,
  AnalysisRequestSchema,
  type AnalysisVerdict,
  AnalysisVerdictRecordedSchema,
  AnalysisVerdictSchema,
  CanaryCheckFailedSchema,
  CanaryCheckHeldSchema,
  CanaryFinalizationRequestedSchema,
  CanaryIterationCompletedSchema,
  CanaryPhase,
  CanaryPhaseChangedSchema,
  CanaryPromotedSchema,
  CanaryPromotionRequestedSchema,
  CanaryRolledBackSchema,
  CanaryScaleRequestedSchema,
  CanaryScaleToZeroRequestedSchema,
  CanaryWeightAppliedSchema,
  CanaryWeightRequestedSchema,
  ClusterCanaryInitializationRequestedSchema,
  ClusterCanaryInitializedSchema,
  ClusterJoinedSchema,
  ClusterRequeuedSchema,
  ClusterRevertedSchema,
  ClusterRevertFailedSchema,
  ClusterRevertRequestedSchema,
  ClusterSkippedSchema,
  CommandOutcome,
  ConditionStatus,
  DeploymentRole,
  FailurePolicy,
  FleetHaltedSchema,
  GateChangedSchema,
  NotificationRequestedSchema,
  NotificationSeverity,
  type Observation,
  ObservationRecordedSchema,
  ObservationSchema,
  OperatorAction,
  OperatorActionRecordedSchema,
  ReleaseCreatedSchema,
  ReleaseFinishedSchema,
  ReleaseOutcome,
  ReleasePausedSchema,
  ReleaseResumedSchema,
  ReleaseStartedSchema,
  RolloutSpecAppliedSchema,
  RouterKind,
  type Routes,
  RoutesSchema,
  SameSite,
  SupersessionRecordedSchema,
  TickRecordedSchema,
  WaveBakingSchema,
  WaveStartedSchema,
  WaveSucceededSchema,
  WebhookOutcome,
  WebhookRequestedSchema,
  WebhookResultRecordedSchema,
  WebhookType,
  WorkloadKind,
} from '../index.ts';

/**
 * Realistic messages of every Aviary schema that crosses a process boundary or is stored in the
 * log, for tests and benchmarks of this package. Not exported from the package entry.
 */
export interface SampleMessage {
  readonly label: string;
  readonly desc: DescMessage;
  readonly message: Message;
}

const T0 = Date.UTC(2026, 6, 21, 9, 30, 0);
const at = (secondsAfterT0: number): Timestamp => timestampFromMs(T0 + secondsAfterT0 * 1000);
const workload = { namespace: 'shop', name: 'checkout', kind: WorkloadKind.DEPLOYMENT };
const revision = {
  id: 'rev-5f56684589-3c1d',
  podTemplateHash: '5f56684589',
  configChecksums: {
    'configmap/checkout-config': '9f86d081884c7d65',
    'secret/checkout-db': 'a3f1c2b4d5e6f708',
  },
};
const releaseId = 'shop/checkout@rev-5f56684589-3c1d';

const abRoutes = (canaryWeightPercent: number): Routes =>
  create(RoutesSchema, {
    primaryWeightPercent: 100 - canaryWeightPercent,
    canaryWeightPercent,
    matches: [
      { headers: { 'x-canary': { kind: { case: 'exact', value: 'insider' } } } },
      { cookies: { canary: { kind: { case: 'regex', value: '^always$' } } } },
      {
        headers: {
          'user-agent': { kind: { case: 'prefix', value: 'Mozilla' } },
          'x-region': { kind: { case: 'suffix', value: '-eu' } },
        },
      },
    ],
    mirror: false,
    sessionAffinity: {
      cookieName: 'flagger-cookie',
      primaryCookieName: 'flagger-primary-cookie',
      maxAgeSeconds: 86_400,
      path: '/',
      httpOnly: true,
      secure: true,
      sameSite: SameSite.LAX,
    },
  });

function command(
  cluster: string,
  n: number,
  body: NonNullable<Exclude<MessageInitShape<typeof AgentCommandSchema>, AgentCommand>['command']>,
): AgentCommand {
  return create(AgentCommandSchema, {
    commandId: `${releaseId}/${cluster}/${n}`,
    cluster,
    releaseId,
    workload,
    issuedAt: at(n * 60),
    command: body,
  });
}

const service = {
  name: 'checkout',
  port: 8080,
  portName: 'http',
  targetPort: 'http',
  hosts: ['checkout.shop.example.com'],
  gatewayRefs: [{ namespace: 'gateway', name: 'public', sectionName: 'https' }],
};

function observation(
  n: number,
  kind: NonNullable<Exclude<MessageInitShape<typeof ObservationSchema>, Observation>['kind']>,
): Observation {
  return create(ObservationSchema, {
    observationId: `obs-eu-1-${n}`,
    cluster: 'eu-1',
    observedAt: at(n),
    kind,
  });
}

export const sampleObservations: readonly Observation[] = [
  observation(1, { case: 'revisionSeen', value: { workload, revision } }),
  observation(2, {
    case: 'workloadReadiness',
    value: {
      workload,
      role: DeploymentRole.CANARY,
      revisionId: revision.id,
      generation: 7n,
      observedGeneration: 7n,
      desiredReplicas: 3,
      replicas: 4,
      updatedReplicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      conditions: [
        {
          type: 'Progressing',
          status: ConditionStatus.TRUE,
          reason: 'ReplicaSetUpdated',
          message: 'ReplicaSet "checkout-7d9f" is progressing.',
          lastUpdateTime: at(1),
          lastTransitionTime: at(0),
        },
        {
          type: 'Available',
          status: ConditionStatus.FALSE,
          reason: 'MinimumReplicasUnavailable',
          message: 'Deployment does not have minimum availability.',
          lastUpdateTime: at(2),
          lastTransitionTime: at(2),
        },
      ],
    },
  }),
  observation(3, {
    case: 'routesApplied',
    value: {
      workload,
      router: RouterKind.GATEWAY_API,
      routes: abRoutes(20),
      commandId: `${releaseId}/eu-1/3`,
    },
  }),
  observation(4, {
    case: 'commandResult',
    value: {
      commandId: `${releaseId}/eu-1/4`,
      outcome: CommandOutcome.REJECTED,
      reason: 'StaleRevision',
      message: 'canary runs rev-0a1b, not rev-5f56684589-3c1d',
      observedGeneration: 12n,
      workload,
    },
  }),
  observation(5, {
    case: 'heartbeat',
    value: {
      labels: { region: 'eu', env: 'prod', 'topology.kubernetes.io/zone': 'eu-west-1a' },
      agentVersion: '0.1.0',
      leaseMs: 30_000,
      agentStartedAt: at(-3600),
    },
  }),
];

export const sampleCommands: readonly AgentCommand[] = [
  command('eu-1', 1, {
    case: 'initializeTarget',
    value: { router: RouterKind.ISTIO, service, hpaName: 'checkout' },
  }),
  command('eu-1', 2, { case: 'scaleCanary', value: {} }),
  command('eu-1', 3, { case: 'scaleCanary', value: { replicas: 3 } }),
  command('eu-1', 4, {
    case: 'setRoutes',
    value: { router: RouterKind.ISTIO, serviceName: 'checkout', routes: abRoutes(30) },
  }),
  command('eu-1', 5, {
    case: 'setRoutes',
    value: {
      router: RouterKind.ISTIO,
      serviceName: 'checkout',
      routes: { primaryWeightPercent: 100, mirror: true, mirrorWeightPercent: 50 },
    },
  }),
  command('eu-1', 6, { case: 'promoteCanary', value: { revisionId: revision.id } }),
  command('eu-1', 7, { case: 'scaleCanaryToZero', value: {} }),
  command('eu-1', 8, { case: 'finalizeTarget', value: { router: RouterKind.NGINX, service } }),
  command('eu-1', 9, { case: 'revertPrimary', value: { revisionId: 'rev-previous' } }),
];

export const sampleAnalysisRequest: AnalysisRequest = create(AnalysisRequestSchema, {
  requestId: `${releaseId}/eu-1/analysis/17/request-success-rate`,
  releaseId,
  cluster: 'eu-1',
  workload,
  checkName: 'request-success-rate',
  thresholdRange: { min: 99 },
  intervalMs: 60_000,
  windowStart: at(0),
  windowEnd: at(60),
  priority: AnalysisPriority.ROLLBACK_RELEVANT,
  templateVariables: { service: 'checkout', 'query.suffix': '{code!~"5.."}' },
  router: RouterKind.ISTIO,
});

export const sampleAnalysisVerdict: AnalysisVerdict = create(AnalysisVerdictSchema, {
  requestId: sampleAnalysisRequest.requestId,
  releaseId,
  cluster: 'eu-1',
  checkName: 'request-success-rate',
  outcome: AnalysisOutcome.FAILED,
  evidence: {
    value: 97.25,
    thresholdRange: { min: 99 },
    lowerBound: 96.1,
    upperBound: 98.1,
    canary: { totalCount: 1204n, badCount: 33n },
    primary: { totalCount: 98_812n, badCount: 41n },
    windowStart: at(-30),
    windowEnd: at(30),
    query: 'sum by (cluster, namespace, workload, track) (rate(istio_requests_total[1m]))',
  },
  message: 'success rate 97.25% < 99% over 1,204 requests',
});

const spec = {
  targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' },
  service: { port: 8080 },
  analysis: {
    interval: '1m',
    threshold: 2,
    stepWeights: [5, 10, 25, 50],
    metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }],
    webhooks: [{ name: 'gate', type: 'confirm-promotion', url: 'http://gate/approve' }],
  },
  fleet: {
    waves: [
      { name: 'canary-region', clusters: ['eu-1'] },
      { name: 'rest', selector: { env: 'prod' } },
    ],
    failurePolicy: 'halt',
  },
  suspend: false,
  skipAnalysis: null,
};

function event<D extends DescMessage>(desc: D, init: MessageInitShape<D>): SampleMessage {
  return { label: desc.name, desc, message: create(desc, init) };
}

/** One or more realistic instances of every release event. */
export const sampleReleaseEvents: readonly SampleMessage[] = [
  event(RolloutSpecAppliedSchema, {
    rollout: { namespace: 'shop', name: 'checkout' },
    spec,
    specHash: 'sha256:4e1f',
    actor: 'alice@example.com',
  }),
  event(ReleaseCreatedSchema, {
    releaseId: 'shop.checkout.2',
    revision: { id: 'rev-7d9f' },
    reason: 'revision-seen',
    actor: 'aviary-orchestrator',
    cluster: 'eu-1',
    specHash: 'sha256:4e1f',
  }),
  event(GateChangedSchema, {
    gate: 'approve-eu',
    open: true,
    actor: 'alice@example.com',
    reason: 'CAB approved',
  }),
  ...sampleObservations.map((observation) => event(ObservationRecordedSchema, { observation })),
  event(AnalysisVerdictRecordedSchema, { verdict: sampleAnalysisVerdict }),
  event(WebhookResultRecordedSchema, {
    requestId: `${releaseId}/eu-1/webhook/9/gate`,
    cluster: 'eu-1',
    name: 'gate',
    type: WebhookType.CONFIRM_PROMOTION,
    outcome: WebhookOutcome.FAILED,
    statusCode: 403,
    message: 'Forbidden',
    durationMs: 12,
  }),
  event(TickRecordedSchema, { now: at(600) }),
  event(OperatorActionRecordedSchema, {
    actor: 'bob@example.com',
    action: OperatorAction.SKIP_CLUSTER,
    reason: 'agent down for maintenance',
    cluster: 'us-2',
  }),
  event(ReleaseStartedSchema, {
    releaseId,
    rollout: { namespace: 'shop', name: 'checkout' },
    target: workload,
    revision,
    spec,
    specHash: 'sha256:4e1f',
    waves: [
      { name: 'canary-region', clusters: ['eu-1'], maxParallel: 1, bakeMs: 600_000 },
      { name: 'rest', clusters: ['eu-2', 'us-1', 'us-2'], maxParallel: 2 },
    ],
    failurePolicy: FailurePolicy.HALT_AND_REVERT,
  }),
  event(WaveStartedSchema, { waveIndex: 1, waveName: 'rest', clusters: ['eu-2', 'us-1'] }),
  event(WaveBakingSchema, { waveIndex: 0, bakeUntil: at(1200) }),
  event(WaveSucceededSchema, { waveIndex: 0 }),
  event(ClusterSkippedSchema, {
    cluster: 'us-2',
    waveIndex: 1,
    reason: 'agent down for maintenance',
  }),
  event(ClusterRequeuedSchema, { cluster: 'us-2', waveIndex: 1, reason: 'agent back' }),
  event(ClusterJoinedSchema, {
    cluster: 'eu-3',
    waveIndex: 1,
    selectedByWaveIndex: 1,
    reason: 'registered after the release started; selected by wave europe',
  }),
  event(ClusterRevertedSchema, { cluster: 'eu-1', revisionId: 'rev-previous' }),
  event(ClusterRevertFailedSchema, {
    cluster: 'eu-2',
    revisionId: 'rev-previous',
    reason: 'NoPreviousRevision no saved primary template',
    commandId: 'shop.podinfo.3:eu-2:revert-primary',
  }),
  event(SupersessionRecordedSchema, { releaseId: 'shop.podinfo.4', revision: { id: 'rev-newer' } }),
  event(FleetHaltedSchema, {
    waveIndex: 1,
    cluster: 'us-1',
    failurePolicy: FailurePolicy.HALT_AND_REVERT,
    reason: 'canary failed in us-1: 2 failed checks',
    clustersToRevert: ['eu-1'],
  }),
  event(ReleasePausedSchema, { cluster: 'eu-2', reason: '3 inconclusive checks in a row' }),
  event(ReleaseResumedSchema, { cluster: 'eu-2', actor: 'alice@example.com' }),
  event(ReleaseFinishedSchema, { outcome: ReleaseOutcome.FAILED, reason: 'halted in wave 1' }),
  event(ClusterCanaryInitializedSchema, { cluster: 'eu-1', primaryRevisionId: 'rev-0a1b' }),
  event(CanaryPhaseChangedSchema, {
    cluster: 'eu-1',
    previousPhase: CanaryPhase.INITIALIZED,
    phase: CanaryPhase.PROGRESSING,
    reason: 'New revision detected, progressing canary analysis.',
  }),
  event(CanaryWeightAppliedSchema, {
    cluster: 'eu-1',
    commandId: `${releaseId}/eu-1/3`,
    routes: abRoutes(20),
  }),
  event(CanaryCheckFailedSchema, {
    cluster: 'eu-1',
    checkName: 'request-success-rate',
    failedChecks: 1,
    threshold: 2,
    reason: 'success rate 97.25% < 99%',
  }),
  event(CanaryCheckHeldSchema, {
    cluster: 'eu-2',
    checkName: 'request-duration',
    outcome: AnalysisOutcome.INCONCLUSIVE,
    heldChecks: 2,
    limit: 3,
    reason: 'only 12 requests in the window',
  }),
  event(CanaryIterationCompletedSchema, { cluster: 'eu-1', iterations: 4 }),
  event(CanaryPromotedSchema, { cluster: 'eu-1', revisionId: revision.id }),
  event(CanaryRolledBackSchema, {
    cluster: 'us-1',
    revisionId: revision.id,
    reason: 'failed checks threshold reached 2',
    failedChecks: 2,
  }),
  event(ClusterCanaryInitializationRequestedSchema, { command: sampleCommands[0] }),
  event(CanaryScaleRequestedSchema, { command: sampleCommands[2] }),
  event(CanaryWeightRequestedSchema, { command: sampleCommands[3] }),
  event(CanaryPromotionRequestedSchema, { command: sampleCommands[5] }),
  event(CanaryScaleToZeroRequestedSchema, { command: sampleCommands[6] }),
  event(CanaryFinalizationRequestedSchema, { command: sampleCommands[7] }),
  event(ClusterRevertRequestedSchema, { command: sampleCommands[8] }),
  event(AnalysisRequestedSchema, { request: sampleAnalysisRequest }),
  event(WebhookRequestedSchema, {
    call: {
      requestId: `${releaseId}/eu-1/webhook/9/gate`,
      cluster: 'eu-1',
      name: 'gate',
      type: WebhookType.CONFIRM_PROMOTION,
      url: 'http://flagger-loadtester.test/gate/check',
      timeoutMs: 10_000,
      retries: 2,
      payload: {
        name: 'checkout',
        namespace: 'shop',
        phase: CanaryPhase.PROGRESSING,
        checksum: '85d557f47b',
        metadata: { key1: 'val1' },
      },
    },
  }),
  event(NotificationRequestedSchema, {
    cluster: 'us-1',
    severity: NotificationSeverity.ERROR,
    message: 'Canary analysis failed, Deployment scaled to zero.',
  }),
];

/** Every sample: release events, plus the bare wire messages. */
export const sampleMessages: readonly SampleMessage[] = [
  ...sampleReleaseEvents,
  ...sampleObservations.map((message) => ({
    label: `Observation.${message.kind.case}`,
    desc: ObservationSchema,
    message,
  })),
  ...sampleCommands.map((message) => ({
    label: `AgentCommand.${message.command.case}`,
    desc: AgentCommandSchema,
    message,
  })),
  { label: 'AnalysisRequest', desc: AnalysisRequestSchema, message: sampleAnalysisRequest },
  { label: 'AnalysisVerdict', desc: AnalysisVerdictSchema, message: sampleAnalysisVerdict },
];
