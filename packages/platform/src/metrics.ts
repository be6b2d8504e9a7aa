/**
 * Prometheus metrics of Aviary itself (prom-client), served on `/metrics`.
 *
 * - One registry per process, `metricsRegistry`, that every service module registers into; a
 *   module gets its metrics with `metricsOf(registry, key, create)`, which creates them once per
 *   registry (so `aviary dev`, running every service in one process, and tests creating many
 *   instances, never register a name twice). Names carry the service (`aviary_orchestrator_…`,
 *   `aviary_analyzer_…`, `aviary_agent_…`), so one registry holds them all.
 * - The listener is off unless `AVIARY_METRICS_PORT` is set (`runService` starts it); it binds
 *   `AVIARY_METRICS_HOST`, `0.0.0.0` by default since Prometheus scrapes from elsewhere and the
 *   page holds no secrets. Values that are cheaper to read than to track (outbox depth, consumer
 *   lag, releases by phase) are gauges with a `collect` hook, read at each scrape.
 * - The same listener answers `GET /healthz` with 200: the process's event loop still serves
 *   requests. It is the liveness probe of the services that serve no HTTP of their own (the
 *   analyzer, the cluster agent; infra/kubernetes), and says nothing about readiness.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { z } from 'zod';
import { type Env, loadConfig } from './config.ts';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The registry of this process's Aviary metrics: what `/metrics` serves. */
export const metricsRegistry: Registry = new Registry();

const created = new WeakMap<Registry, Map<string, unknown>>();

/**
 * The metrics a module registers under `key` in `registry`, created by `create` on first use and
 * the same object afterwards.
 */
export function metricsOf<T>(
  registry: Registry,
  key: string,
  create: (registry: Registry) => T,
): T {
  let byKey = created.get(registry);
  if (byKey === undefined) {
    byKey = new Map();
    created.set(registry, byKey);
  }
  if (!byKey.has(key)) byKey.set(key, create(registry));
  return byKey.get(key) as T;
}

const settingsSchema = z.object({
  /** AVIARY_METRICS_PORT: where `/metrics` listens; unset: no listener. 0: any free port. */
  metricsPort: z.number().int().min(0).max(65_535).optional(),
  /** AVIARY_METRICS_HOST: the listener's address. */
  metricsHost: z.string().min(1).default('0.0.0.0'),
});

export interface MetricsSettings {
  readonly port?: number;
  readonly host: string;
}

/** `AVIARY_METRICS_PORT` and `AVIARY_METRICS_HOST`; throws ConfigError for a bad value. */
export function metricsSettingsFromEnv(env: Env = process.env): MetricsSettings {
  const parsed = loadConfig(settingsSchema, env, { prefix: 'AVIARY' });
  return {
    host: parsed.metricsHost,
    ...(parsed.metricsPort === undefined ? {} : { port: parsed.metricsPort }),
  };
}

const withProcessMetrics = new WeakSet<Registry>();

/** Adds Node's process metrics (`process_*`, `nodejs_*`: CPU, memory, event loop lag) once. */
export function collectProcessMetrics(registry: Registry = metricsRegistry): void {
  if (withProcessMetrics.has(registry)) return;
  withProcessMetrics.add(registry);
  collectDefaultMetrics({ register: registry });
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface StartMetricsServerOptions {
  readonly port: number;
  readonly host?: string;
  readonly registry?: Registry;
  readonly logger?: { warn(fields: object, msg: string): void };
}

/**
 * Serves `GET /metrics` (Prometheus text format) and `GET /healthz` (200 `ok`: liveness); every
 * other path is a 404.
 */
export async function startMetricsServer(
  options: StartMetricsServerOptions,
): Promise<MetricsServer> {
  const registry = options.registry ?? metricsRegistry;
  const host = options.host ?? '0.0.0.0';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/healthz' && read) {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : 'ok\n');
      return;
    }
    if (path !== '/metrics' || !read) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        options.logger?.warn({ err: error }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/metrics`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
