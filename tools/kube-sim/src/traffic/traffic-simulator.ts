import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterStore } from '../store.ts';
import { answer } from './behaviour.ts';
import {
  type BackendEndpoints,
  type ClusterView,
  type Endpoint,
  endpointsOf,
  isTrafficResource,
  readClusterView,
} from './cluster-view.ts';
import {
  type Destination,
  type DestinationCells,
  type EdgeCells,
  MeshMetrics,
} from './mesh-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE } from './metrics-registry.ts';
import { createPrng, type Prng } from './prng.ts';
import {
  type RouteChoice,
  type RouterKind,
  routePlan,
  type SimRequest,
  type WeightedBackend,
} from './routing.ts';

/**
 * A cluster's simulated traffic: each configured service gets `rps` requests per second, sent
 * through whichever routing object exists for it (Istio VirtualService, Gateway API HTTPRoute,
 * NGINX canary Ingress, SMI TrafficSplit; none: the apex Service) to the Ready Pods behind the
 * chosen backend Service, answered as their version's annotations say (`behaviour.ts`), and
 * counted in the series each router's users have (`mesh-metrics.ts`), served at `/metrics`.
 *
 * Time is injectable: `advance(ms)` runs the ticks of `ms` of simulated time at once (tests),
 * `start()` ticks on a real timer every `tickMs`, by the elapsed time `now()` reports.
 */
export interface TrafficServiceConfig {
  readonly namespace: string;
  /** The apex Service name (Flagger's `<svc>`; its routing objects are named after it). */
  readonly service: string;
  /** Requests per second. */
  readonly rps: number;
  /** Which router's objects to follow; `auto` (default): Istio, Gateway API, NGINX, SMI, none. */
  readonly router?: RouterKind | 'auto';
}

export interface TrafficOptions {
  readonly services?: readonly TrafficServiceConfig[];
  /** Simulated time per tick; 250 ms unless told. */
  readonly tickMs?: number;
  /** PRNG seed; 1 unless told. */
  readonly seed?: number;
  /** Fraction of requests that carry the test headers and cookies (A/B); 0.1 unless told. */
  readonly testFraction?: number;
  /** Headers of test requests; `{ 'x-canary': 'insider' }` unless told. */
  readonly testHeaders?: Readonly<Record<string, string>>;
  /** Cookies of test requests; `{ canary: 'always' }` unless told. */
  readonly testCookies?: Readonly<Record<string, string>>;
  /** Clock of the real timer (`start`); `Date.now` unless told. */
  readonly now?: () => number;
  /** `start()` at once (what `createKubeSim` does when `services` are given); false unless told. */
  readonly autoStart?: boolean;
}

/** One simulated request as the simulator counted it, for listeners (a metrics vendor simulator). */
export interface SimulatedRequest {
  readonly namespace: string;
  readonly service: string;
  readonly backend: string;
  /** The Pod that answered; undefined when there was none (503). */
  readonly destination: Destination | undefined;
  readonly code: number;
  readonly latencyMs: number;
  readonly mirrored: boolean;
  /** Simulated time of the tick, in ms since the simulator began. */
  readonly atMs: number;
}

export interface BackendStats {
  requests: number;
  /** Responses >= 500. */
  errors: number;
  /** Mirrored copies received (not part of `requests`). */
  mirrored: number;
}

export interface ServiceStats {
  readonly router: RouterKind | undefined;
  requests: number;
  /** Requests no route matched (no backend, or every weight 0). */
  unrouted: number;
  readonly backends: Map<string, BackendStats>;
}

interface ResolvedBackend {
  readonly backend: WeightedBackend;
  readonly endpoints: BackendEndpoints;
  readonly stats: BackendStats;
  /** Destination cells per Ready endpoint, per status code. */
  readonly cells: Map<number, DestinationCells>[];
  readonly unavailableCells: Map<number, DestinationCells>;
  readonly edgeCells: Map<number, EdgeCells>;
}

interface ResolvedChoice {
  readonly backends: readonly ResolvedBackend[];
  readonly cumulative: readonly number[];
  readonly total: number;
  readonly mirror?: { readonly backend: ResolvedBackend; readonly percent: number };
}

interface ServiceState {
  readonly config: TrafficServiceConfig;
  stats: ServiceStats;
  carry: number;
  plain: ResolvedChoice | undefined;
  test: ResolvedChoice | undefined;
}

const DEFAULT_TICK_MS = 250;

export class TrafficSimulator {
  readonly cluster: string;
  readonly tickMs: number;
  readonly metrics: MeshMetrics;
  readonly #store: ClusterStore;
  readonly #rng: Prng;
  readonly #services = new Map<string, ServiceState>();
  readonly #listeners = new Set<(request: SimulatedRequest) => void>();
  readonly #testFraction: number;
  readonly #plainRequest: SimRequest = { path: '/', headers: {} };
  readonly #testRequest: SimRequest;
  readonly #now: () => number;
  readonly #unsubscribe: () => void;
  #view: ClusterView | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTickAt = 0;
  #elapsedMs = 0;

  constructor(cluster: string, store: ClusterStore, options: TrafficOptions = {}) {
    this.cluster = cluster;
    this.#store = store;
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    if (!(this.tickMs > 0)) throw new Error('tickMs must be positive');
    this.metrics = new MeshMetrics(cluster);
    this.#rng = createPrng(options.seed ?? 1);
    this.#testFraction = options.testFraction ?? 0.1;
    this.#now = options.now ?? Date.now;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.testHeaders ?? { 'x-canary': 'insider' })) {
      headers[k.toLowerCase()] = v;
    }
    const cookies = Object.entries(options.testCookies ?? { canary: 'always' });
    if (cookies.length > 0) headers.cookie = cookies.map(([k, v]) => `${k}=${v}`).join('; ');
    this.#testRequest = { path: '/', headers };
    this.#unsubscribe = store.subscribe((event) => {
      if (isTrafficResource(event.resource)) this.#invalidate();
    });
    for (const service of options.services ?? []) this.addService(service);
    if (options.autoStart === true) this.start();
  }

  /** Adds (or replaces) a service's traffic. */
  addService(config: TrafficServiceConfig): void {
    if (!(config.rps >= 0)) throw new Error(`rps must be >= 0, got ${config.rps}`);
    const key = `${config.namespace}/${config.service}`;
    const previous = this.#services.get(key);
    this.#services.set(key, {
      config,
      stats: previous?.stats ?? emptyStats(),
      carry: 0,
      plain: undefined,
      test: undefined,
    });
  }

  removeService(namespace: string, service: string): void {
    this.#services.delete(`${namespace}/${service}`);
  }

  /** What the simulator counted for a service since it was added (or `resetStats`). */
  stats(namespace: string, service: string): ServiceStats | undefined {
    return this.#services.get(`${namespace}/${service}`)?.stats;
  }

  resetStats(): void {
    for (const state of this.#services.values()) {
      state.stats = emptyStats();
      state.plain = undefined;
      state.test = undefined;
    }
  }

  /** Calls `listener` for every simulated request (and mirrored copy); returns the unsubscribe. */
  subscribe(listener: (request: SimulatedRequest) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs `ms` of simulated time, in ticks of `tickMs` (the last one shorter). */
  advance(ms: number): void {
    let left = ms;
    while (left > 0) {
      const step = Math.min(left, this.tickMs);
      this.tick(step);
      left -= step;
    }
  }

  /** Sends every service the requests of `elapsedMs`; returns how many were sent. */
  tick(elapsedMs: number): number {
    if (this.#view === undefined) this.#view = readClusterView(this.#store);
    this.#elapsedMs += elapsedMs;
    let sent = 0;
    for (const state of this.#services.values()) {
      const due = state.carry + (state.config.rps * elapsedMs) / 1000;
      const count = Math.floor(due);
      state.carry = due - count;
      if (count === 0) continue;
      if (state.plain === undefined || state.test === undefined) this.#resolve(state, this.#view);
      const plain = state.plain as ResolvedChoice;
      const test = state.test as ResolvedChoice;
      for (let i = 0; i < count; i++) {
        this.#send(state, this.#rng.next() < this.#testFraction ? test : plain);
      }
      sent += count;
    }
    return sent;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastTickAt = this.#now();
    this.#timer = setInterval(() => {
      const now = this.#now();
      const elapsed = now - this.#lastTickAt;
      this.#lastTickAt = now;
      if (elapsed > 0) this.tick(elapsed);
    }, this.tickMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    this.#unsubscribe();
  }

  /** The Prometheus text exposition of every series. */
  render(): string {
    return this.metrics.render();
  }

  /** Serves `GET /metrics`; returns false (and does nothing) for any other request. */
  handleMetrics(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const body = this.render();
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  #invalidate(): void {
    this.#view = undefined;
    for (const state of this.#services.values()) {
      state.plain = undefined;
      state.test = undefined;
    }
  }

  #resolve(state: ServiceState, view: ClusterView): void {
    const { namespace, service, router } = state.config;
    const plan = routePlan(view, namespace, service, router ?? 'auto');
    if (state.stats.router !== plan.router) state.stats = { ...state.stats, router: plan.router };
    const endpoints = new Map<string, BackendEndpoints>();
    const resolveBackend = (backend: WeightedBackend): ResolvedBackend => {
      const key = `${backend.namespace}/${backend.service}`;
      let found = endpoints.get(key);
      if (found === undefined) {
        found = endpointsOf(view, backend.namespace, backend.service);
        endpoints.set(key, found);
      }
      let stats = state.stats.backends.get(backend.service);
      if (stats === undefined) {
        stats = { requests: 0, errors: 0, mirrored: 0 };
        state.stats.backends.set(backend.service, stats);
      }
      return {
        backend,
        endpoints: found,
        stats,
        cells: found.ready.map(() => new Map()),
        unavailableCells: new Map(),
        edgeCells: new Map(),
      };
    };
    const resolveChoice = (choice: RouteChoice): ResolvedChoice => {
      const backends = choice.backends.filter((b) => b.weight > 0).map(resolveBackend);
      const cumulative: number[] = [];
      let total = 0;
      for (const b of backends) {
        total += b.backend.weight;
        cumulative.push(total);
      }
      return {
        backends,
        cumulative,
        total,
        ...(choice.mirror === undefined
          ? {}
          : {
              mirror: {
                backend: resolveBackend(choice.mirror.backend),
                percent: choice.mirror.percent,
              },
            }),
      };
    };
    state.plain = resolveChoice(plan.choose(this.#plainRequest));
    state.test = resolveChoice(plan.choose(this.#testRequest));
  }

  #send(state: ServiceState, choice: ResolvedChoice): void {
    const stats = state.stats;
    stats.requests += 1;
    if (choice.total <= 0) {
      stats.unrouted += 1;
      return;
    }
    const pick = this.#rng.next() * choice.total;
    let index = 0;
    while (index < choice.cumulative.length - 1 && pick >= (choice.cumulative[index] as number)) {
      index++;
    }
    const target = choice.backends[index] as ResolvedBackend;
    const { code, latencyMs, destination } = this.#serve(target);
    target.stats.requests += 1;
    if (code >= 500) target.stats.errors += 1;
    const edge = target.backend.edge;
    if (edge !== undefined) {
      let cells = target.edgeCells.get(code);
      if (cells === undefined) {
        cells = this.metrics.edgeCells(edge, code);
        target.edgeCells.set(code, cells);
      }
      this.metrics.recordEdge(cells, latencyMs);
    }
    this.#emit(state, target, destination, code, latencyMs, false);
    const mirror = choice.mirror;
    if (mirror !== undefined && this.#rng.next() * 100 < mirror.percent) {
      const shadow = mirror.backend;
      if (shadow.endpoints.ready.length === 0) return;
      const copy = this.#serve(shadow);
      shadow.stats.mirrored += 1;
      this.#emit(state, shadow, copy.destination, copy.code, copy.latencyMs, true);
    }
  }

  /** Answers at a Ready Pod of the backend (or 503 when there is none) and records the destination series. */
  #serve(target: ResolvedBackend): {
    code: number;
    latencyMs: number;
    destination: Destination | undefined;
  } {
    const ready = target.endpoints.ready;
    if (ready.length === 0) {
      const destination = target.endpoints.unavailable;
      const latencyMs = 0.2 + this.#rng.next() * 0.6;
      if (destination !== undefined) {
        let cells = target.unavailableCells.get(503);
        if (cells === undefined) {
          cells = this.metrics.destinationCells(destination, 503, 'UH');
          target.unavailableCells.set(503, cells);
        }
        this.metrics.recordDestination(cells, latencyMs);
      }
      return { code: 503, latencyMs, destination };
    }
    const i = ready.length === 1 ? 0 : Math.floor(this.#rng.next() * ready.length);
    const endpoint = ready[i] as Endpoint;
    const { code, latencyMs } = answer(endpoint.behaviour, this.#rng);
    const byCode = target.cells[i] as Map<number, DestinationCells>;
    let cells = byCode.get(code);
    if (cells === undefined) {
      cells = this.metrics.destinationCells(endpoint.destination, code, '-');
      byCode.set(code, cells);
    }
    this.metrics.recordDestination(cells, latencyMs);
    return { code, latencyMs, destination: endpoint.destination };
  }

  #emit(
    state: ServiceState,
    target: ResolvedBackend,
    destination: Destination | undefined,
    code: number,
    latencyMs: number,
    mirrored: boolean,
  ): void {
    if (this.#listeners.size === 0) return;
    const request: SimulatedRequest = {
      namespace: state.config.namespace,
      service: state.config.service,
      backend: target.backend.service,
      destination,
      code,
      latencyMs,
      mirrored,
      atMs: this.#elapsedMs,
    };
    for (const listener of this.#listeners) listener(request);
  }
}

function emptyStats(): ServiceStats {
  return { router: undefined, requests: 0, unrouted: 0, backends: new Map() };
}
