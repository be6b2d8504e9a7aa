/**
 * The agent's own metrics and trace spans around commands and observations
 * (docs/observability.md). Both command transports (JetStream, the in-process bus) hand each
 * command through `observeCommand`, which:
 *
 * - continues the trace the command's headers carry (`traceparent`, stored by the orchestrator
 *   when it decided the command) in a `process` span, so the Kubernetes calls (`kube/` guard) and
 *   the observations published while handling it are its children: the result goes back to the
 *   orchestrator in the same trace;
 * - counts it in `aviary_agent_commands_total{cluster, action, outcome}`, the outcome being the
 *   published result's (`succeeded`, `failed`, `rejected`), else what happened to the message
 *   (`retried` when nak'ed, `acked`, `terminated`).
 *
 * The observation publisher counts what it publishes and tells the command in hand (through an
 * AsyncLocalStorage scope) the outcome of its result.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { consumeWithSpan, type TraceCarrier } from '@aviary/messaging';
import { Counter, metricsOf, metricsRegistry, type Registry } from '@aviary/platform';
import { CommandOutcome, type Observation } from '@aviary/proto';
import type { CommandMessage } from './command-consumer.ts';

export function agentMessagingMetrics(registry: Registry = metricsRegistry) {
  return metricsOf(registry, 'aviary_agent_messaging', (r) => ({
    commands: new Counter({
      name: 'aviary_agent_commands_total',
      help: 'Command deliveries handled by the agent, by action and outcome.',
      labelNames: ['cluster', 'action', 'outcome'] as const,
      registers: [r],
    }),
    observations: new Counter({
      name: 'aviary_agent_observations_published_total',
      help: 'Observations the agent published (stored by the stream), by kind.',
      labelNames: ['cluster', 'kind'] as const,
      registers: [r],
    }),
  }));
}

interface CommandScope {
  outcome?: string;
}

const scope = new AsyncLocalStorage<CommandScope>();

const ACTIONS = new Set([
  'initializeTarget',
  'scaleCanary',
  'setRoutes',
  'promoteCanary',
  'scaleCanaryToZero',
  'finalizeTarget',
  'renewLease',
  'revertPrimary',
]);

interface CommandFacts {
  readonly action: string;
  readonly commandId?: string;
  readonly releaseId?: string;
}

/** The action (oneof case) and ids of a command, without decoding it fully; never throws. */
function factsOf(data: Uint8Array): CommandFacts {
  try {
    const json = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
    const action = Object.keys(json).find((key) => ACTIONS.has(key)) ?? 'unknown';
    return {
      action,
      ...(typeof json.commandId === 'string' ? { commandId: json.commandId } : {}),
      ...(typeof json.releaseId === 'string' ? { releaseId: json.releaseId } : {}),
    };
  } catch {
    return { action: 'malformed' };
  }
}

/** Handles one command delivery with its span and its count (see the module comment). */
export async function observeCommand(
  cluster: string,
  subject: string,
  headers: TraceCarrier | undefined,
  message: CommandMessage,
  handle: (message: CommandMessage) => Promise<void>,
  registry: Registry = metricsRegistry,
): Promise<void> {
  const facts = factsOf(message.data);
  let disposition = 'unsettled';
  const observed: CommandMessage = {
    ...message,
    ack: () => {
      disposition = 'acked';
      message.ack();
    },
    nak: (delayMs) => {
      disposition = 'retried';
      message.nak(delayMs);
    },
    term: () => {
      disposition = 'terminated';
      message.term();
    },
  };
  const state: CommandScope = {};
  const attributes = {
    'aviary.cluster': cluster,
    'aviary.command.action': facts.action,
    'messaging.message.delivery_count': message.deliveryCount,
    ...(facts.commandId === undefined ? {} : { 'aviary.command.id': facts.commandId }),
    ...(facts.releaseId === undefined ? {} : { 'aviary.release.id': facts.releaseId }),
  };
  try {
    await consumeWithSpan(subject, headers, attributes, (span) =>
      scope.run(state, async () => {
        await handle(observed);
        span?.setAttribute('aviary.command.outcome', outcomeOf(state, disposition));
      }),
    );
  } finally {
    agentMessagingMetrics(registry)
      .commands.labels(cluster, facts.action, outcomeOf(state, disposition))
      .inc();
  }
}

function outcomeOf(state: CommandScope, disposition: string): string {
  // A nak'ed delivery comes back: its result, if one was published, is not final.
  if (disposition === 'retried') return disposition;
  return state.outcome ?? disposition;
}

/** Called by the observation publisher once `observation` is stored. */
export function observationPublished(
  observation: Observation,
  kind: string,
  registry: Registry = metricsRegistry,
): void {
  agentMessagingMetrics(registry).observations.labels(observation.cluster, kind).inc();
  if (observation.kind.case === 'commandResult') {
    const current = scope.getStore();
    if (current !== undefined) {
      current.outcome = (
        CommandOutcome[observation.kind.value.outcome] ?? 'unspecified'
      ).toLowerCase();
    }
  }
}
