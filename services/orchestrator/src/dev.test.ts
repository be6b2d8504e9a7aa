/**
 * `npm start` (services/orchestrator/src/dev.ts) as a child process on embedded defaults: the real
 * agents (one per simulated cluster) and the real analyzer (Datadog provider on the Datadog
 * simulator fed by the clusters' traffic) on the in-process bus. The whole story (v1 bootstrap,
 * v2 good across both regions, v3 faulty stopped in eu-1), checked from its output, through its
 * HTTP API and with kubectl on the simulated clusters; and the system without the story, with
 * configured tokens that never reach the output, a fresh log per run, and a clean stop on Ctrl-C.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const dev = fileURLToPath(new URL('./dev.ts', import.meta.url));
const byMsg = (start: string) => (line: LogLine) =>
  typeof line.msg === 'string' && line.msg.startsWith(start);

/** The environment of a run: JSON lines, the embedded log, any free port. */
const env = (dataDir: string, extra: Record<string, string> = {}) => ({
  AVIARY_DATA_DIR: dataDir,
  AVIARY_HTTP_PORT: '0',
  AVIARY_LOG_PRETTY: 'false',
  AVIARY_LOG_LEVEL: 'info',
  AVIARY_PG_URL: '',
  AVIARY_API_TOKENS: '',
  AVIARY_DEMO: '',
  ...extra,
});

interface TimelineLine {
  readonly release?: string;
  readonly type: string;
  readonly cluster?: string;
  readonly outcome?: string;
  readonly msg: string;
}

async function get(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.json() };
}

describe('npm start (aviary dev)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aviary-dev-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('plays the story on embedded defaults with the real agents and analyzer: v2 succeeds across every cluster, v3 fails in eu-1 and halts the fleet; the API and kubectl say the same', {
    timeout: 240_000,
  }, async () => {
    const aviary = spawnService(dev, { env: env(join(dataDir, 'log')) });
    try {
      const up = await aviary.waitForLine(byMsg('Aviary dev is up'), 60_000);
      expect(up).toMatchObject({
        bus: 'in-process bus',
        clusters: ['eu-1', 'eu-2', 'us-1', 'us-2'],
      });
      expect(String(up.metrics)).toMatch(/^datadog simulator http:\/\/127\.0\.0\.1:\d+$/);
      expect(String(up.eventLog)).toMatch(
        new RegExp(
          `^pglite ${join(dataDir, 'log', 'run-').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
        ),
      );
      const { url } = await aviary.waitForLine(byMsg('http api listening'));
      const upLine = await aviary.waitForLine((l) => l.up === true);
      expect(upLine).toMatchObject({ dashboard: `${url}/` });
      const token = /AVIARY_TOKEN=(\S+)/.exec(String(upLine.msg))?.[1];
      expect(token).toMatch(/^[\w-]{16,}$/);
      for (const command of ['npx aviary get releases', 'npx aviary watch']) {
        expect(String(upLine.msg)).toContain(command);
      }
      const kubeconfig = String(upLine.kubeconfig);

      const finished = await aviary.waitForLine((l) => l.demo === 'finished', 180_000);
      expect(finished).toMatchObject({
        releases: [
          { releaseId: 'demo.podinfo.1', version: 'v1', outcome: 'RELEASE_OUTCOME_SUCCEEDED' },
          { releaseId: 'demo.podinfo.2', version: 'v2', outcome: 'RELEASE_OUTCOME_SUCCEEDED' },
          { releaseId: 'demo.podinfo.3', version: 'v3', outcome: 'RELEASE_OUTCOME_FAILED' },
        ],
        primaries: { 'eu-1': 'v2', 'eu-2': 'v2', 'us-1': 'v2', 'us-2': 'v2' },
      });
      expect(String(finished.msg)).toContain(
        `curl -H "Authorization: Bearer $AVIARY_TOKEN" ${url}/api/v1/releases`,
      );
      expect(String(finished.msg)).toContain(`export AVIARY_TOKEN=${token}`);
      expect(String(finished.msg)).toContain('Ctrl-C stops');

      // The timeline, as printed from the log.
      const timeline = aviary.lines.filter((l) => l.timeline === true) as unknown as TimelineLine[];
      const of = (release: string) => timeline.filter((l) => l.release === release);
      const two = of('demo.podinfo.2');
      const three = of('demo.podinfo.3');
      expect(timeline.filter((l) => l.type === 'ClusterRegistered').map((l) => l.cluster)).toEqual(
        expect.arrayContaining(['eu-1', 'eu-2', 'us-1', 'us-2']),
      );
      expect(two.filter((l) => l.type === 'WaveStarted').map((l) => l.msg)).toEqual([
        'demo.podinfo.2  wave canary started (eu-1)',
        'demo.podinfo.2  wave europe started (eu-2)',
        'demo.podinfo.2  wave rest started (us-1, us-2)',
      ]);
      const weighted = (lines: TimelineLine[]) =>
        new Set(
          lines
            .filter((l) => l.type === 'CanaryWeightApplied' && !l.msg.includes(' 0% '))
            .map((l) => l.cluster),
        );
      expect(weighted(two)).toEqual(new Set(['eu-1', 'eu-2', 'us-1', 'us-2']));
      expect(
        two
          .filter((l) => l.type === 'CanaryPromoted')
          .map((l) => l.cluster)
          .sort(),
      ).toEqual(['eu-1', 'eu-2', 'us-1', 'us-2']);
      expect(two.at(-1)).toMatchObject({
        type: 'ReleaseFinished',
        outcome: 'RELEASE_OUTCOME_SUCCEEDED',
      });
      // v3 starts once v2 has finished, and gets no further than eu-1.
      expect(timeline.indexOf(three[0] as TimelineLine)).toBeGreaterThan(
        timeline.indexOf(two.at(-1) as TimelineLine),
      );
      expect(weighted(three)).toEqual(new Set(['eu-1']));
      // Failed on the success rate the analyzer read from the Datadog simulator.
      const failedChecks = three.filter((l) => l.type === 'CanaryCheckFailed');
      expect(failedChecks.length).toBeGreaterThan(0);
      expect(failedChecks[0]?.msg).toMatch(/request-success-rate [\d.]+ < 99/);
      expect(three.map((l) => l.type)).toEqual(
        expect.arrayContaining(['CanaryRolledBack', 'FleetHalted']),
      );
      expect(three.find((l) => l.type === 'CanaryRolledBack')?.cluster).toBe('eu-1');
      expect(three.at(-1)).toMatchObject({
        type: 'ReleaseFinished',
        outcome: 'RELEASE_OUTCOME_FAILED',
      });

      // The API, with the token printed at start.
      expect((await get(`${url}/api/v1/releases`)).status).toBe(401);
      const releases = await get(`${url}/api/v1/releases`, token);
      expect(releases.status).toBe(200);
      const byId = Object.fromEntries(
        (releases.body as { releases: { releaseId: string }[] }).releases.map((r) => [
          r.releaseId,
          r,
        ]),
      );
      expect(Object.keys(byId).sort()).toEqual([
        'demo.podinfo.1',
        'demo.podinfo.2',
        'demo.podinfo.3',
      ]);
      expect(byId['demo.podinfo.2']).toMatchObject({
        status: 'finished',
        outcome: 'RELEASE_OUTCOME_SUCCEEDED',
        waves: [
          { name: 'canary', clusters: ['eu-1'], status: 'succeeded' },
          { name: 'europe', clusters: ['eu-2'], status: 'succeeded' },
          { name: 'rest', clusters: ['us-1', 'us-2'], status: 'succeeded' },
        ],
      });
      expect(byId['demo.podinfo.3']).toMatchObject({
        status: 'finished',
        outcome: 'RELEASE_OUTCOME_FAILED',
      });
      const canaries = async (id: string) =>
        Object.fromEntries(
          (
            (await get(`${url}/api/v1/releases/${id}/canaries`, token)).body as {
              canaries: { cluster: string; phase: string }[];
            }
          ).canaries.map((c) => [c.cluster, c.phase]),
        );
      expect(await canaries('demo.podinfo.2')).toEqual({
        'eu-1': 'CANARY_PHASE_SUCCEEDED',
        'eu-2': 'CANARY_PHASE_SUCCEEDED',
        'us-1': 'CANARY_PHASE_SUCCEEDED',
        'us-2': 'CANARY_PHASE_SUCCEEDED',
      });
      expect(await canaries('demo.podinfo.3')).toMatchObject({ 'eu-1': 'CANARY_PHASE_FAILED' });

      // kubectl sees the simulated clusters: every primary runs v2, v3 stayed on the target.
      for (const cluster of ['eu-1', 'us-2']) {
        const image = async (deployment: string) =>
          (
            await run(KUBECTL, [
              '--kubeconfig',
              kubeconfig,
              '--context',
              cluster,
              'get',
              'deployment',
              deployment,
              '-n',
              'demo',
              '-o',
              'jsonpath={.spec.template.spec.containers[0].image}',
            ])
          ).stdout;
        expect(await image('podinfo-primary')).toBe('ghcr.io/stefanprodan/podinfo:v2');
        expect(await image('podinfo')).toBe('ghcr.io/stefanprodan/podinfo:v3');
      }

      // Still running after the story, until Ctrl-C.
      expect(aviary.child.exitCode).toBeNull();
      expect(await aviary.stop('SIGINT')).toEqual({ code: 0 });
    } finally {
      await aviary.stop('SIGKILL').catch(() => undefined);
    }
  });

  it('without the story: the system alone, configured tokens never printed, a fresh log per run, Ctrl-C stops', {
    timeout: 150_000,
  }, async () => {
    const secret = 'a-configured-token-0123456789';
    const runs: string[] = [];
    for (let run = 0; run < 2; run++) {
      const aviary = spawnService(dev, {
        env: env(join(dataDir, 'log'), {
          AVIARY_DEMO: 'false',
          AVIARY_API_TOKENS: `ops:viewer:${secret}`,
        }),
      });
      try {
        const up = await aviary.waitForLine(byMsg('Aviary dev is up'), 60_000);
        runs.push(String(up.eventLog));
        expect(aviary.lines.find((l) => l.earlierRuns !== undefined)).toMatchObject({
          earlierRuns: run,
        });
        await aviary.waitForLine((l) => l.demo === 'off');
        const { url } = await aviary.waitForLine(byMsg('http api listening'));
        // The real agents register their clusters with their first heartbeats.
        await expect
          .poll(async () => JSON.stringify((await get(`${url}/api/v1/clusters`, secret)).body), {
            timeout: 30_000,
          })
          .toMatch(/eu-1.*eu-2.*us-1.*us-2/s);
        const releases = await get(`${url}/api/v1/releases`, secret);
        expect(releases.body).toEqual({ releases: [] });
        expect(await aviary.stop('SIGINT')).toEqual({ code: 0 });
        expect(aviary.lines.some((l) => l.demo === 'story')).toBe(false);
        expect(JSON.stringify(aviary.lines) + aviary.stderr()).not.toContain(secret);
      } finally {
        await aviary.stop('SIGKILL').catch(() => undefined);
      }
    }
    expect(runs[0]).not.toEqual(runs[1]);
    expect((await readdir(join(dataDir, 'log'))).filter((n) => n.startsWith('run-'))).toHaveLength(
      2,
    );
  });
});
