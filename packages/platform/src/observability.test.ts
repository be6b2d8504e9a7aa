import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.ts';
import { createLogger } from './logger.ts';
import {
  Counter,
  metricsOf,
  metricsSettingsFromEnv,
  Registry,
  startMetricsServer,
} from './metrics.ts';
import { isTracingEnabled, startTelemetry, telemetrySettingsFromEnv, tracer } from './telemetry.ts';
import { type LogLine, spawnService } from './testing/index.ts';
import { startTestTracing } from './testing/tracing.ts';

const fixture = fileURLToPath(new URL('../test/fixtures/lifecycle-service.ts', import.meta.url));
const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;

describe('telemetry settings', () => {
  it('is off by default, on with an OTLP endpoint or the Aviary flag', () => {
    expect(telemetrySettingsFromEnv('orchestrator', {})).toEqual({
      enabled: false,
      serviceName: 'aviary-orchestrator',
    });
    expect(
      telemetrySettingsFromEnv('analyzer', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }),
    ).toEqual({ enabled: true, serviceName: 'aviary-analyzer', endpoint: 'http://otel:4318' });
    expect(telemetrySettingsFromEnv('agent', { AVIARY_OTEL_ENABLED: 'true' }).enabled).toBe(true);
    expect(
      telemetrySettingsFromEnv('agent', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/v1/traces',
        AVIARY_OTEL_ENABLED: 'false',
      }).enabled,
    ).toBe(false);
    expect(
      telemetrySettingsFromEnv('agent', { AVIARY_OTEL_ENABLED: '1', OTEL_SDK_DISABLED: 'true' })
        .enabled,
    ).toBe(false);
    expect(
      telemetrySettingsFromEnv('agent', {
        OTEL_SERVICE_NAME: 'edge-agent',
        AVIARY_OTEL_ENABLED: 'on',
      }).serviceName,
    ).toBe('edge-agent');
  });

  it('does nothing when off', async () => {
    const telemetry = startTelemetry({ service: 'x', env: {} });
    expect(telemetry.enabled).toBe(false);
    expect(isTracingEnabled()).toBe(false);
    expect(tracer().startSpan('noop').isRecording()).toBe(false);
    await telemetry.stop();
  });

  it('writes the active span’s trace and span ids on log lines while tracing is on', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      service: 'test',
      level: 'info',
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    logger.info('before');
    const tracing = startTestTracing();
    try {
      tracer().startActiveSpan('work', (span) => {
        logger.info({ releaseId: 'r1' }, 'inside');
        span.end();
      });
      logger.info('outside');
      const span = await tracing.span('work');
      expect(lines[0]).not.toHaveProperty('traceId');
      expect(lines[1]).toMatchObject({
        releaseId: 'r1',
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
      expect(lines[2]).not.toHaveProperty('traceId');
    } finally {
      await tracing.stop();
    }
  });
});

describe('metrics', () => {
  it('creates a module’s metrics once per registry', () => {
    const registry = new Registry();
    const create = (r: Registry) =>
      new Counter({ name: 'aviary_test_total', help: 'test', registers: [r] });
    expect(metricsOf(registry, 'k', create)).toBe(metricsOf(registry, 'k', create));
    expect(metricsOf(new Registry(), 'k', create)).not.toBe(metricsOf(registry, 'k', create));
  });

  it('serves /metrics and shows values move', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'aviary_test_things_total',
      help: 'things',
      labelNames: ['kind'] as const,
      registers: [registry],
    });
    const server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry });
    try {
      counter.labels('a').inc();
      const first = await fetch(server.url);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toContain('text/plain');
      expect(await first.text()).toContain('aviary_test_things_total{kind="a"} 1');
      counter.labels('a').inc(2);
      expect(await (await fetch(server.url)).text()).toContain(
        'aviary_test_things_total{kind="a"} 3',
      );
      expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await server.stop();
    }
  });

  it('reads AVIARY_METRICS_PORT and AVIARY_METRICS_HOST, refusing a bad port', () => {
    expect(metricsSettingsFromEnv({})).toEqual({ host: '0.0.0.0' });
    expect(metricsSettingsFromEnv({ AVIARY_METRICS_PORT: '9464' })).toEqual({
      host: '0.0.0.0',
      port: 9464,
    });
    expect(() => metricsSettingsFromEnv({ AVIARY_METRICS_PORT: 'http' })).toThrow(ConfigError);
  });
});

describe('runService with observability', () => {
  it('serves /metrics on AVIARY_METRICS_PORT while running', async () => {
    const service = spawnService(fixture, {
      env: { FIXTURE_MODE: 'ok', AVIARY_METRICS_PORT: '0', AVIARY_METRICS_HOST: '127.0.0.1' },
    });
    const listening = await service.waitForLine(byMsg('metrics listening'));
    await service.waitForLine(byMsg('ready'));
    const text = await (await fetch(String(listening.url))).text();
    expect(text).toContain('process_cpu_user_seconds_total');
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(0);
  });

  it('exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, at the latest when stopping', async () => {
    const bodies: string[] = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('latin1');
      });
      req.on('end', () => {
        bodies.push(`${req.url} ${body}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const { port } = collector.address() as AddressInfo;
    try {
      const service = spawnService(fixture, {
        env: { FIXTURE_MODE: 'traced', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
      });
      await service.waitForLine(byMsg('ready'));
      const inside = service.lines.find(byMsg('inside a span'));
      expect(inside?.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(service.lines.find(byMsg('tracing on'))).toMatchObject({
        serviceName: 'aviary-lifecycle-fixture',
      });
      const { code } = await service.stop('SIGTERM');
      expect(code).toBe(0);
      const exported = bodies.filter((b) => b.startsWith('/v1/traces '));
      expect(exported.length).toBeGreaterThan(0);
      expect(exported.join('\n')).toContain('fixture work');
      expect(exported.join('\n')).toContain('aviary-lifecycle-fixture');
      expect(exported.join('\n')).toContain(String(inside?.traceId));
    } finally {
      collector.close();
    }
  });
});
