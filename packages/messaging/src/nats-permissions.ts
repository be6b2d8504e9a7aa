import { ValidationError } from '@aviary/core';
import { streamNames } from './streams.ts';
import {
  analysisRequestSubject,
  analysisResultSubject,
  assertClusterName,
  commandSubject,
  DEFAULT_MESSAGING_NAMESPACE,
  type MessagingNamespace,
  subjectFilters,
} from './subjects.ts';

/**
 * NATS users and permissions for an Aviary deployment: one user per cluster agent, one for the
 * orchestrator, one for the analyzer (docs/runbook.md, infra/README.md). Each user may publish and
 * subscribe only where its service needs to, subject by subject, including the exact JetStream
 * API subjects the `@nats-io/jetstream` client sends for its streams and durable consumers:
 *
 * - an agent publishes its own observations (`<root>.v1.cluster.<cluster>.obs.*`) and drives only
 *   its own durable consumer `agent-<cluster>` on the command stream, whose filter (part of the
 *   create subject) is its own command subject; replies reach it on a private inbox prefix
 *   (`agentInboxPrefix`), so no agent can read another's pulled commands or acknowledgements;
 * - the orchestrator creates and updates the streams, publishes commands and analysis requests,
 *   and consumes observations and verdicts through its two durable consumers;
 * - the analyzer also ensures the streams (both services do, at start-up), consumes analysis
 *   requests and publishes verdicts.
 *
 * Anything not listed is denied: NATS treats a user with `allow` lists as allowed nothing else.
 */

/** Where one user may publish and subscribe. */
export interface NatsUserPermissions {
  /** The NATS user name, e.g. `agent-eu-1`. */
  readonly user: string;
  /** Which Aviary service connects as this user. */
  readonly role: 'agent' | 'orchestrator' | 'analyzer';
  /** The agent's cluster. */
  readonly cluster?: string;
  /**
   * The environment variable holding the user's password, read by nats-server when it loads the
   * configuration (`$NAME` in the file): secrets never sit in the file itself.
   */
  readonly passwordVariable: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

export interface NatsAuthorizationOptions {
  /** The clusters that get an agent user (DNS-1123 labels, unique). */
  readonly clusters: readonly string[];
  /** Subject root and stream prefix; production `aviary`. */
  readonly namespace?: MessagingNamespace;
  /** The analyzer's durable consumer (AVIARY_ANALYSIS_CONSUMER). Default `analyzer`. */
  readonly analyzerConsumer?: string;
  /** The orchestrator's durable consumers' prefix (`<prefix>-observations`, `-verdicts`). */
  readonly orchestratorDurablePrefix?: string;
}

export interface NatsServerConfigOptions extends NatsAuthorizationOptions {
  /** `server_name`. Default `aviary-nats`. */
  readonly serverName?: string;
  /** Client listen address. Default `0.0.0.0:4222`. */
  readonly listen?: string;
  /** Monitoring (`/healthz`, `/varz`, `/jsz`) listen address; `null` for none. */
  readonly httpListen?: string | null;
  /** JetStream store directory (nats-server keeps streams in `<dir>/jetstream`). Default `/data`. */
  readonly storeDir?: string;
  readonly maxMemoryStore?: string;
  readonly maxFileStore?: string;
}

/** The JetStream API prefix of the default domain. */
const JS_API = '$JS.API';
const JS_ACK = '$JS.ACK';

/** The NATS user of `cluster`'s agent. */
export function agentNatsUser(cluster: string): string {
  return `agent-${assertClusterName(cluster)}`;
}

/** The JetStream durable consumer of `cluster`'s agent on the command stream. */
export function agentDurableName(cluster: string): string {
  return `agent-${assertClusterName(cluster)}`;
}

/**
 * The reply-inbox prefix of `cluster`'s agent: `_INBOX_AGENT.<root>.<cluster>`. Outside `_INBOX.`
 * so that neither the central services (which keep the default `_INBOX`) nor another agent can
 * subscribe to it; the agent connects with it (`inboxPrefix`), and its user may subscribe only
 * beneath it.
 */
export function agentInboxPrefix(
  cluster: string,
  namespace: MessagingNamespace = DEFAULT_MESSAGING_NAMESPACE,
): string {
  return `_INBOX_AGENT.${namespace.subjectRoot}.${assertClusterName(cluster)}`;
}

/** `NATS_PASS_AGENT_EU_1`, `NATS_PASS_ORCHESTRATOR`: the variable nats-server reads. */
export function natsPasswordVariable(user: string): string {
  return `NATS_PASS_${user.toUpperCase().replaceAll('-', '_')}`;
}

/** The API subjects a durable pull consumer's owner sends: info, next, acks (and create). */
function durableConsumerSubjects(stream: string, durable: string, filter: string): string[] {
  // The client creates with `CONSUMER.CREATE.<stream>.<durable>.<filter>` (servers ≥ 2.9), and
  // the server refuses a config whose filter differs from the subject's: allowing one subject
  // allows one filter. An `update` reads the consumer (INFO) and sends the same create subject.
  // A wildcard filter travels as literal `*` tokens, which only a `>` in the permission matches.
  const create = filter.includes('*')
    ? `${JS_API}.CONSUMER.CREATE.${stream}.${durable}.>`
    : `${JS_API}.CONSUMER.CREATE.${stream}.${durable}.${filter}`;
  return [
    create,
    `${JS_API}.CONSUMER.INFO.${stream}.${durable}`,
    `${JS_API}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `${JS_ACK}.${stream}.${durable}.>`,
  ];
}

/** `ensureStreams`: read, create and update each of Aviary's streams, and nothing else. */
function streamAdminSubjects(namespace: MessagingNamespace): string[] {
  return Object.values(streamNames(namespace)).flatMap((stream) => [
    `${JS_API}.STREAM.INFO.${stream}`,
    `${JS_API}.STREAM.CREATE.${stream}`,
    `${JS_API}.STREAM.UPDATE.${stream}`,
  ]);
}

const DURABLE = /^[A-Za-z0-9_-]+$/;

/** Every user with its permissions; throws ValidationError for a bad or repeated cluster. */
export function natsUsers(options: NatsAuthorizationOptions): NatsUserPermissions[] {
  const namespace = options.namespace ?? DEFAULT_MESSAGING_NAMESPACE;
  const analyzerConsumer = options.analyzerConsumer ?? 'analyzer';
  const prefix = options.orchestratorDurablePrefix ?? 'orchestrator';
  const issues = [];
  for (const [path, value] of [
    ['analyzerConsumer', analyzerConsumer],
    ['orchestratorDurablePrefix', prefix],
  ] as const) {
    if (!DURABLE.test(value)) {
      issues.push({ path, message: "must be letters, digits, '_' or '-'" });
    }
  }
  const seen = new Set<string>();
  options.clusters.forEach((cluster, index) => {
    if (seen.has(cluster)) {
      issues.push({ path: `clusters[${index}]`, message: `${cluster} is listed twice` });
    }
    seen.add(cluster);
  });
  if (options.clusters.length === 0) {
    issues.push({ path: 'clusters', message: 'name at least one cluster' });
  }
  if (issues.length > 0) throw new ValidationError('invalid NATS authorization', issues);

  const streams = streamNames(namespace);
  const user = (
    name: string,
    role: NatsUserPermissions['role'],
    publish: string[],
    subscribe: string[],
    cluster?: string,
  ): NatsUserPermissions => ({
    user: name,
    role,
    ...(cluster === undefined ? {} : { cluster }),
    passwordVariable: natsPasswordVariable(name),
    publish,
    subscribe,
  });

  const orchestrator = user(
    'orchestrator',
    'orchestrator',
    [
      subjectFilters.commands(namespace),
      analysisRequestSubject(namespace),
      `${JS_API}.INFO`,
      ...streamAdminSubjects(namespace),
      ...durableConsumerSubjects(
        streams.observations,
        `${prefix}-observations`,
        subjectFilters.observations(namespace),
      ),
      ...durableConsumerSubjects(
        streams.analysis,
        `${prefix}-verdicts`,
        analysisResultSubject(namespace),
      ),
    ],
    ['_INBOX.>'],
  );
  const analyzer = user(
    'analyzer',
    'analyzer',
    [
      analysisResultSubject(namespace),
      `${JS_API}.INFO`,
      ...streamAdminSubjects(namespace),
      ...durableConsumerSubjects(
        streams.analysis,
        analyzerConsumer,
        analysisRequestSubject(namespace),
      ),
    ],
    ['_INBOX.>'],
  );
  const agents = options.clusters.map((cluster) =>
    user(
      agentNatsUser(cluster),
      'agent',
      [
        subjectFilters.observations(namespace, cluster),
        `${JS_API}.INFO`,
        // Which stream stores its command subject (findStreamForSubject): names only.
        `${JS_API}.STREAM.NAMES`,
        ...durableConsumerSubjects(
          streams.commands,
          agentDurableName(cluster),
          commandSubject(cluster, namespace),
        ),
      ],
      [`${agentInboxPrefix(cluster, namespace)}.>`],
      cluster,
    ),
  );
  return [orchestrator, analyzer, ...agents];
}

const quote = (subject: string) => JSON.stringify(subject);
const list = (subjects: readonly string[], indent: string) =>
  `[\n${subjects.map((s) => `${indent}  ${quote(s)}`).join(',\n')}\n${indent}]`;

/**
 * A complete nats-server configuration (JetStream, monitoring, and the users of `natsUsers`),
 * with each password read from its environment variable when the server starts: a missing
 * variable stops nats-server with an error rather than leaving a user open.
 */
export function natsServerConfig(options: NatsServerConfigOptions): string {
  const users = natsUsers(options);
  const namespace = options.namespace ?? DEFAULT_MESSAGING_NAMESPACE;
  const httpListen = options.httpListen === undefined ? '0.0.0.0:8222' : options.httpListen;
  const lines = [
    '# Generated by scripts/nats-config.ts from the cluster list; do not edit by hand.',
    `# Clusters: ${options.clusters.join(', ')}. Subject root: ${namespace.subjectRoot}.`,
    '#',
    '# One NATS user per cluster agent, plus the orchestrator and the analyzer. Passwords come from',
    '# the environment of nats-server (one variable per user, named below); the server refuses to',
    '# start when one is missing. Every permission is an allow list: anything else is denied.',
    '',
    `server_name: ${quote(options.serverName ?? 'aviary-nats')}`,
    `listen: ${quote(options.listen ?? '0.0.0.0:4222')}`,
  ];
  if (httpListen !== null) {
    lines.push('', '# Monitoring: /healthz, /varz, /jsz.', `http: ${quote(httpListen)}`);
  }
  lines.push(
    '',
    'jetstream {',
    '  # nats-server keeps its streams in <store_dir>/jetstream.',
    `  store_dir: ${quote(options.storeDir ?? '/data')}`,
    `  max_memory_store: ${options.maxMemoryStore ?? '256MB'}`,
    `  max_file_store: ${options.maxFileStore ?? '10GB'}`,
    '}',
    '',
    'authorization {',
    '  users: [',
  );
  users.forEach((u, index) => {
    const who =
      u.role === 'agent' ? `the cluster agent of ${u.cluster}` : `the ${u.role} (central)`;
    lines.push(
      `    # ${who}`,
      '    {',
      `      user: ${quote(u.user)}`,
      `      password: $${u.passwordVariable}`,
      '      permissions: {',
      `        publish: { allow: ${list(u.publish, '        ')} }`,
      `        subscribe: { allow: ${list(u.subscribe, '        ')} }`,
      '      }',
      `    }${index === users.length - 1 ? '' : ','}`,
    );
  });
  lines.push('  ]', '}', '');
  return lines.join('\n');
}
