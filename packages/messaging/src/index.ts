export { type NatsConfig, natsConfigFields, natsConnectOptions } from './config.ts';
export {
  type ConnectNatsOptions,
  connectNats,
  type MessagingLogger,
  type NatsClient,
  redactServer,
} from './connection.ts';
export { abortable, throwIfAborted, wrapNatsError } from './errors.ts';
export { type BusMessage, InProcessBus, type InProcessBusOptions } from './in-process-bus.ts';
export {
  agentDurableName,
  agentInboxPrefix,
  agentNatsUser,
  type NatsAuthorizationOptions,
  type NatsServerConfigOptions,
  type NatsUserPermissions,
  natsPasswordVariable,
  natsServerConfig,
  natsUsers,
} from './nats-permissions.ts';
export {
  createJetStreamPublisher,
  type JetStreamPublisher,
  MSG_ID_HEADER,
  type PublishAck,
  type PublishOptions,
  TraceHeader,
} from './publisher.ts';
export {
  DEFAULT_ANALYSIS_MAX_AGE_MS,
  DEFAULT_COMMAND_DUPLICATE_WINDOW_MS,
  DEFAULT_COMMAND_MAX_AGE_MS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_OBSERVATION_MAX_AGE_MS,
  EnsureAction,
  type EnsuredStream,
  ensureStreams,
  findStreamForSubject,
  type StreamDefinition,
  StreamKey,
  type StreamManager,
  type StreamSettings,
  streamDefinitions,
  streamNames,
} from './streams.ts';
export {
  analysisRequestSubject,
  analysisResultSubject,
  assertClusterName,
  assertObservationKind,
  commandSubject,
  DEFAULT_MESSAGING_NAMESPACE,
  DEFAULT_NAMESPACE,
  isValidClusterName,
  isValidNamespaceName,
  type MessagingNamespace,
  messagingNamespace,
  observationSubject,
  type ParsedSubject,
  parseSubject,
  parseSubjectOrThrow,
  SUBJECT_VERSION,
  SubjectType,
  subjectFilters,
} from './subjects.ts';
