/**
 * In-memory implementations of the orchestrator's ports (`Operations`, `ReadModel`) and a
 * recording logger, for the API's tests: they record every call and can be told to fail.
 */
import type {
  Actor,
  ApplicationRef,
  ApplicationView,
  ApplySpecResult,
  CanaryView,
  ClusterView,
  Operations,
  OperatorActionInput,
  ReadModel,
  ReleaseView,
  TimelineEntry,
} from '../ports.ts';
import type { ApiLogger } from './server.ts';

export type RecordedCall =
  | { readonly op: 'applySpec'; readonly document: string; readonly actor: Actor }
  | { readonly op: 'operatorAction'; readonly input: OperatorActionInput; readonly actor: Actor }
  | {
      readonly op: 'retryRelease';
      readonly releaseId: string;
      readonly actor: Actor;
      readonly reason: string | undefined;
    }
  | {
      readonly op: 'setGate';
      readonly application: ApplicationRef;
      readonly gate: string;
      readonly open: boolean;
      readonly actor: Actor;
      readonly reason: string | undefined;
    };

/** Operations that record calls, keep gates in a map, and throw `failWith` when it is set. */
export class FakeOperations implements Operations {
  readonly calls: RecordedCall[] = [];
  readonly gates = new Map<string, boolean>();
  /** Thrown by the next calls while set. */
  failWith: unknown;
  /** What `applySpec` answers. */
  applyResult: ApplySpecResult = {
    application: { namespace: 'shop', name: 'checkout' },
    specHash: 'sha256:abc',
    changed: true,
    notes: [],
  };

  async applySpec(document: string, actor: Actor): Promise<ApplySpecResult> {
    this.#fail();
    this.calls.push({ op: 'applySpec', document, actor });
    return this.applyResult;
  }

  async operatorAction(
    input: OperatorActionInput,
    actor: Actor,
  ): Promise<{ readonly releaseId: string }> {
    this.#fail();
    this.calls.push({ op: 'operatorAction', input, actor });
    return { releaseId: input.releaseId };
  }

  async retryRelease(
    releaseId: string,
    actor: Actor,
    reason?: string,
  ): Promise<{ readonly releaseId: string }> {
    this.#fail();
    this.calls.push({ op: 'retryRelease', releaseId, actor, reason });
    return { releaseId: `${releaseId}.retry-1` };
  }

  async setGate(
    application: ApplicationRef,
    gate: string,
    open: boolean,
    actor: Actor,
    reason?: string,
  ): Promise<void> {
    this.#fail();
    this.calls.push({ op: 'setGate', application, gate, open, actor, reason });
    this.gates.set(`${application.namespace}/${application.name}/${gate}`, open);
  }

  gateOpen(application: ApplicationRef, gate: string): boolean {
    return this.gates.get(`${application.namespace}/${application.name}/${gate}`) ?? false;
  }

  async recordWebhookResult(): Promise<void> {
    throw new Error('not used by the HTTP API');
  }

  async recordVerdict(): Promise<void> {
    throw new Error('not used by the HTTP API');
  }

  #fail(): void {
    if (this.failWith !== undefined) throw this.failWith;
  }
}

export function releaseView(releaseId: string, overrides: Partial<ReleaseView> = {}): ReleaseView {
  return {
    releaseId,
    application: { namespace: 'shop', name: 'checkout' },
    revisionId: 'rev-1',
    status: 'running',
    currentWave: 0,
    waves: [{ name: 'eu', clusters: ['eu-1'], status: 'running' }],
    startedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:01:00.000Z',
    version: 3,
    ...overrides,
  };
}

/** A read model over arrays, recording the filters and options it was asked with. */
export class FakeReadModel implements ReadModel {
  applicationViews: ApplicationView[] = [];
  releaseViews: ReleaseView[] = [];
  canaryViews: CanaryView[] = [];
  clusterViews: ClusterView[] = [];
  timelineEntries: TimelineEntry[] = [];
  readonly queries: { readonly method: string; readonly args: unknown }[] = [];

  async applications(): Promise<ApplicationView[]> {
    return this.applicationViews;
  }

  async application(ref: ApplicationRef): Promise<ApplicationView | undefined> {
    return this.applicationViews.find((a) => a.namespace === ref.namespace && a.name === ref.name);
  }

  async releases(filter?: {
    readonly application?: ApplicationRef;
    readonly active?: boolean;
    readonly limit?: number;
  }): Promise<ReleaseView[]> {
    this.queries.push({ method: 'releases', args: filter });
    return this.releaseViews.slice(0, filter?.limit);
  }

  async release(releaseId: string): Promise<ReleaseView | undefined> {
    return this.releaseViews.find((r) => r.releaseId === releaseId);
  }

  async canaries(releaseId: string): Promise<CanaryView[]> {
    return this.canaryViews.filter((c) => c.releaseId === releaseId);
  }

  async clusters(): Promise<ClusterView[]> {
    return this.clusterViews;
  }

  async timeline(
    releaseId: string,
    options?: { readonly afterVersion?: number; readonly limit?: number },
  ): Promise<TimelineEntry[]> {
    this.queries.push({ method: 'timeline', args: { releaseId, ...options } });
    return this.timelineEntries
      .filter((e) => e.streamVersion > (options?.afterVersion ?? 0))
      .slice(0, options?.limit);
  }
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

/** A logger keeping its lines. */
export function recordingLogger(): ApiLogger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
