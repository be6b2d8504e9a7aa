import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type LogLine, spawnService } from './testing/index.ts';

const fixture = fileURLToPath(new URL('../test/fixtures/lifecycle-service.ts', import.meta.url));

function startFixture(mode: string, env: Record<string, string> = {}) {
  return spawnService(fixture, { env: { FIXTURE_MODE: mode, ...env } });
}

const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;
const cleanups = (lines: readonly LogLine[]) =>
  lines.filter((l) => l.msg === 'cleanup').map((l) => l.component);

describe('runService', () => {
  it('logs ready, and on SIGTERM stops in reverse order, logs stopped and exits 0', async () => {
    const service = startFixture('ok');
    const ready = await service.waitForLine(byMsg('ready'));
    expect(ready).toMatchObject({ service: 'lifecycle-fixture', level: 'info' });
    expect(typeof ready.startMs).toBe('number');

    const { code } = await service.stop('SIGTERM');

    expect(code).toBe(0);
    expect(service.lines.find(byMsg('stopping'))).toMatchObject({ reason: 'SIGTERM' });
    expect(cleanups(service.lines)).toEqual(['main', 'second', 'first']);
    expect(service.lines.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('stops the same way on SIGINT', async () => {
    const service = startFixture('ok');
    await service.waitForLine(byMsg('ready'));
    const { code } = await service.stop('SIGINT');
    expect(code).toBe(0);
    expect(service.lines.find(byMsg('stopping'))).toMatchObject({ reason: 'SIGINT' });
  });

  it('logs a failed start (without secrets), cleans up what was started and exits 1', async () => {
    const service = startFixture('fail-start');
    const { code } = await service.exited;
    expect(code).toBe(1);
    const failed = service.lines.find(byMsg('start failed'));
    expect(failed).toMatchObject({ level: 'error' });
    expect(JSON.stringify(failed)).toContain('postgres://aviary:***@db:5432/aviary');
    expect(JSON.stringify(service.lines)).not.toContain('hunter2');
    expect(service.lines.some(byMsg('ready'))).toBe(false);
    expect(cleanups(service.lines)).toEqual(['first']);
    expect(service.lines.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 1 });
  });

  it('gives up on a stop that takes longer than the timeout and exits 1', async () => {
    const service = startFixture('slow-stop', { FIXTURE_STOP_TIMEOUT_MS: '300' });
    await service.waitForLine(byMsg('ready'));
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(1);
    expect(service.lines.find(byMsg('stop timed out'))).toMatchObject({
      component: 'second',
      timeoutMs: 300,
    });
  });

  it('goes on stopping the others when one fails to stop, and exits 1', async () => {
    const service = startFixture('failing-stop');
    await service.waitForLine(byMsg('ready'));
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(1);
    expect(service.lines.find(byMsg('component failed to stop'))).toMatchObject({
      component: 'second',
    });
    expect(cleanups(service.lines)).toEqual(['main', 'second', 'first']);
  });

  it('logs an unhandled rejection, then stops gracefully with exit code 1', async () => {
    const service = startFixture('unhandled-rejection');
    const { code } = await service.exited;
    expect(code).toBe(1);
    const logged = service.lines.find(byMsg('unhandled rejection: stopping'));
    expect(logged).toMatchObject({ level: 'fatal', err: { message: 'nobody handles this' } });
    expect(cleanups(service.lines)).toEqual(['main', 'second', 'first']);
  });

  it('aborts a start still in progress when a stop is requested, and exits 0', async () => {
    const service = startFixture('hanging-start');
    await service.waitForLine(byMsg('start waits for its signal'));
    const { code } = await service.stop('SIGTERM');
    expect(code).toBe(0);
    expect(service.lines.some(byMsg('ready'))).toBe(false);
    expect(service.lines.some(byMsg('start cancelled by a stop request'))).toBe(true);
    expect(cleanups(service.lines)).toEqual(['second', 'first']);
  });
});
