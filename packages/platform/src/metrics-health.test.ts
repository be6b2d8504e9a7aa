/**
 * The metrics listener's `/healthz`: the liveness probe of the services that serve no HTTP of
 * their own (infra/kubernetes: the analyzer and the cluster agent probe it on their `metrics`
 * port).
 */
import { describe, expect, it } from 'vitest';
import { Registry, startMetricsServer } from './metrics.ts';

describe('the metrics listener’s /healthz', () => {
  it('answers 200 to GET and HEAD, and nothing else', async () => {
    const server = await startMetricsServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
    });
    try {
      const healthz = server.url.replace('/metrics', '/healthz');
      const get = await fetch(healthz);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('ok\n');
      expect(get.headers.get('cache-control')).toBe('no-store');
      expect((await fetch(healthz, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(healthz, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${healthz}?verbose=1`)).status).toBe(200);
      expect((await fetch(server.url)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
