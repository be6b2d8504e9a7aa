/**
 * The `aviary` binary against a running orchestrator (test/orchestrator.ts): each command is run
 * as a child process, as a user would run it, and its output and exit code are checked. The
 * steps share one orchestrator and follow one story: apply, a bootstrap release, a gated release
 * paused, resumed, let through its gate and watched to success, replayed and re-run with another
 * analysis block; a faulty release watched to failure; an aborted one; and the errors.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type RunningOrchestrator, startOrchestrator, TOKENS } from './orchestrator.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** The executable npm links for the workspace's `bin` (what `npx aviary` runs). */
const BIN = join(ROOT, 'node_modules/.bin/aviary');
const WORKLOAD = { namespace: 'shop', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' } as const;

const ROLLOUT = `
apiVersion: aviary.dev/v1alpha1
kind: Rollout
metadata: { name: podinfo, namespace: shop }
spec:
  targetRef: { kind: Deployment, name: podinfo }
  provider: istio
  service: { port: 9898 }
  fleet:
    failurePolicy: halt
    waves:
      - { name: first, clusters: [eu-1], bake: 0s }
      - { name: rest, clusters: [eu-2, us-1], maxParallel: all, bake: 0s }
  analysis:
    intervalMs: 1000
    threshold: 1
    stepWeight: 50
    maxWeight: 50
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 99 }
    webhooks:
      - { name: approval, type: confirm-promotion, url: "aviary-gate:approve" }
`;

const FLAGGER_CANARY = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: { name: podinfo, namespace: test }
spec:
  provider: istio
  targetRef: { apiVersion: apps/v1, kind: Deployment, name: podinfo }
  service: { port: 9898 }
  analysis:
    interval: 5s
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - { name: request-success-rate, thresholdRange: { min: 99 }, interval: 1m }
`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let orchestrator: RunningOrchestrator;
let dir: string;

function aviary(
  args: readonly string[],
  options: { token?: string | null; server?: string; stdin?: string } = {},
): Promise<Run> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  env.AVIARY_URL = options.server ?? orchestrator.url;
  if (options.token === null) delete env.AVIARY_TOKEN;
  else env.AVIARY_TOKEN = options.token ?? TOKENS.operator;
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env, cwd: dir, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    else child.stdin?.end();
  });
}

/** Runs and expects exit code 0, printing what the command said otherwise. */
async function ok(args: readonly string[], options?: Parameters<typeof aviary>[1]) {
  const run = await aviary(args, options);
  expect(run, `aviary ${args.join(' ')}`).toMatchObject({ code: 0 });
  return run;
}

async function releaseJson(id: string) {
  const { stdout } = await ok(['get', 'releases', '--application', 'shop/podinfo', '-o', 'json']);
  return (
    JSON.parse(stdout) as { releases: { releaseId: string; status: string }[] }
  ).releases.find((r) => r.releaseId === id);
}

beforeAll(async () => {
  orchestrator = await startOrchestrator();
  dir = await mkdtemp(join(tmpdir(), 'aviary-cli-files-'));
  await writeFile(join(dir, 'rollout.yaml'), ROLLOUT);
  await writeFile(join(dir, 'canary.yaml'), FLAGGER_CANARY);
  await writeFile(join(dir, 'analysis.yaml'), 'stepWeight: 25\n');
}, 60_000);
afterAll(async () => {
  await orchestrator?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('aviary against a running orchestrator', { timeout: 60_000 }, () => {
  it('applies a Rollout from a file, then from standard input (unchanged)', async () => {
    const first = await ok(['apply', '-f', 'rollout.yaml']);
    expect(first.stdout).toMatch(/^rollout\.aviary\.dev\/shop\/podinfo configured \(sha256:/);
    const again = await ok(['apply', '-f', '-', '-o', 'json'], { stdin: ROLLOUT });
    expect(JSON.parse(again.stdout)).toMatchObject({
      application: { namespace: 'shop', name: 'podinfo' },
      changed: false,
    });
    const invalid = await aviary(['apply', '-f', '-'], {
      stdin: ROLLOUT.replace('stepWeight: 50', 'stepWeight: 500'),
    });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('stepWeight');
  });

  it('lists clusters and applications, as tables and as JSON and YAML', async () => {
    const clusters = await ok(['get', 'clusters']);
    expect(clusters.stdout.split('\n')[0]).toMatch(
      /^NAME\s+LABELS\s+AGENT\s+LEASE\s+LASTHEARTBEAT$/,
    );
    expect(clusters.stdout).toMatch(/^eu-1\s+region=eu\s+simulated\s+5m00s\s+\d{4}-/m);
    const json = JSON.parse((await ok(['get', 'clusters', '-o', 'json'])).stdout);
    expect(json.clusters.map((c: { name: string }) => c.name)).toEqual(['eu-1', 'eu-2', 'us-1']);
    const apps = parse((await ok(['get', 'applications', '-o', 'yaml'])).stdout);
    expect(apps.applications).toMatchObject([
      { namespace: 'shop', name: 'podinfo', appliedBy: 'otto' },
    ]);
  });

  it('shows a running release and its canaries, pauses and resumes it, opens its gate and watches it succeed', async () => {
    await orchestrator.fleet.deploy(WORKLOAD, 'v1');
    // The bootstrap release needs no gate; watch it to its end.
    const bootstrap = await aviary(['watch', 'shop.podinfo.1']);
    expect(bootstrap.code).toBe(0);
    expect(bootstrap.stdout).toContain('release shop.podinfo.1 succeeded');

    await orchestrator.fleet.deploy(WORKLOAD, 'v2');
    await expect
      .poll(
        async () => (await aviary(['get', 'canaries', '--application', 'shop/podinfo'])).stdout,
        {
          timeout: 20_000,
          interval: 300,
        },
      )
      .toMatch(/^shop\s+podinfo\s+eu-1\s+shop\.podinfo\.2\s+WaitingPromotion\s+50\s+0\s+\d{4}-/m);
    const releases = await ok(['get', 'releases']);
    expect(releases.stdout.split('\n')[0]).toMatch(
      /^NAMESPACE\s+NAME\s+RELEASE\s+REVISION\s+PHASE\s+WAVE\s+STARTED\s+LASTTRANSITIONTIME$/,
    );
    expect(releases.stdout).toMatch(
      /^shop\s+podinfo\s+shop\.podinfo\.2\s+v2\s+Running\s+1\/2 first/m,
    );
    expect(releases.stdout).toMatch(/^shop\s+podinfo\s+shop\.podinfo\.1\s+v1\s+Succeeded/m);

    const paused = await ok(['pause', 'shop.podinfo.2', '--reason', 'looking at eu-1']);
    expect(paused.stdout).toContain('pause of shop.podinfo.2 recorded');
    await expect
      .poll(async () => (await releaseJson('shop.podinfo.2'))?.status, { timeout: 10_000 })
      .toBe('paused');
    await ok(['resume', 'shop.podinfo.2']);
    await expect
      .poll(async () => (await releaseJson('shop.podinfo.2'))?.status, { timeout: 10_000 })
      .toBe('running');

    const gate = await ok(['gate', 'open', 'shop/podinfo', 'approve', '--reason', 'CAB ok']);
    expect(gate.stdout).toBe('gate approve of shop/podinfo opened\n');
    expect(
      JSON.parse((await ok(['gate', 'get', 'shop/podinfo', 'approve', '-o', 'json'])).stdout),
    ).toMatchObject({ open: true });

    const watched = await aviary(['watch', 'shop.podinfo.2']);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/wave 2\/2 rest: succeeded/);
    expect(watched.stdout).toMatch(/us-1\s+\[#{20}\] done\s+Succeeded/);
    expect(watched.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /^release shop\.podinfo\.2 succeeded/,
    );
  });

  it('describes the release: timeline with actors, reasons and verdicts', async () => {
    const { stdout } = await ok(['describe', 'release', 'shop.podinfo.2']);
    expect(stdout).toMatch(/^Phase:\s+Succeeded$/m);
    expect(stdout).toMatch(/^ {2}1\. first\s+succeeded\s+eu-1$/m);
    expect(stdout).toMatch(/otto\s+pause requested by otto: looking at eu-1/);
    expect(stdout).toContain('verdict successful for request-success-rate');
    expect(stdout).toContain('simulated: revision v2 is healthy');
    expect(stdout).not.toMatch(/\btick \d{4}-/);
    const json = JSON.parse(
      (await ok(['describe', 'release', 'shop.podinfo.2', '-o', 'json'])).stdout,
    );
    expect(json.release).toMatchObject({ releaseId: 'shop.podinfo.2', status: 'finished' });
    expect(json.timeline.length).toBeGreaterThan(10);
  });

  it('replays the release: OK', async () => {
    const { stdout } = await ok(['replay', 'shop.podinfo.2']);
    expect(stdout).toMatch(
      /^replay of shop\.podinfo\.2: OK, the decider re-derived all \d+ recorded events identically$/m,
    );
    expect(JSON.parse((await ok(['replay', 'shop.podinfo.2', '-o', 'json'])).stdout)).toMatchObject(
      { ok: true },
    );
  });

  it('re-runs the release with another analysis block: the weights diverge', async () => {
    const { stdout } = await ok(['what-if', 'shop.podinfo.2', '-f', 'analysis.yaml']);
    expect(stdout).toMatch(
      /^what-if shop\.podinfo\.2 with stepWeight 25: \d+ of \d+ decision streams diverge/,
    );
    expect(stdout).toMatch(
      /^eu-1\s+promoted.*weights 50,0\s+promoted.*weights 25,0\s+\S+: CanaryWeightRequested/m,
    );
    const json = JSON.parse(
      (await ok(['what-if', 'shop.podinfo.2', '-f', 'analysis.yaml', '-o', 'json'])).stdout,
    );
    const eu1 = json.clusters.find((c: { cluster: string }) => c.cluster === 'eu-1');
    expect(eu1.recorded.weights[0]).toBe(50);
    expect(eu1.changed.weights[0]).toBe(25);
    expect(eu1.divergence.recorded.type).toBe('CanaryWeightRequested');
    const bad = await aviary(['what-if', 'shop.podinfo.2', '-f', '-'], {
      stdin: 'threshold: -3\n',
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('threshold');
  });

  it('watches a faulty release fail (exit 10) and lists the history', async () => {
    orchestrator.faulty.add('v3');
    await orchestrator.fleet.deploy(WORKLOAD, 'v3');
    await expect
      .poll(() => orchestrator.engine.release('shop.podinfo.3') !== undefined, { timeout: 10_000 })
      .toBe(true);
    const watched = await aviary(['watch', 'shop.podinfo.3']);
    expect(watched.code).toBe(10);
    expect(watched.stdout.trimEnd().split('\n').at(-1)).toMatch(/^release shop\.podinfo\.3 failed/);
    const history = await ok(['history', 'shop/podinfo']);
    expect(history.stdout).toMatch(/^shop\.podinfo\.3\s+v3\s+Failed/m);
    expect(history.stdout).toMatch(/^shop\.podinfo\.1\s+v1\s+Succeeded/m);
    expect((await aviary(['history', 'shop/nothing'])).code).toBe(2);
  });

  it('halts the fleet, resumes it, aborts a release; acting on a finished release is refused (exit 3)', async () => {
    await ok(['gate', 'close', 'shop/podinfo', 'approve']);
    await orchestrator.fleet.deploy(WORKLOAD, 'v4');
    await expect
      .poll(async () => (await releaseJson('shop.podinfo.4'))?.status, { timeout: 10_000 })
      .toBe('running');
    const usage = await aviary(['halt']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('-A');
    const halted = await ok(['halt', '-A', '--reason', 'incident 4711']);
    expect(halted.stdout).toMatch(/^shop\.podinfo\.4\s+paused$/m);
    await expect
      .poll(async () => (await releaseJson('shop.podinfo.4'))?.status, { timeout: 10_000 })
      .toBe('paused');
    const resumed = await ok(['resume', '--fleet', '--application', 'shop/podinfo']);
    expect(resumed.stdout).toMatch(/^shop\.podinfo\.4\s+resumed$/m);
    await expect
      .poll(async () => (await releaseJson('shop.podinfo.4'))?.status, { timeout: 10_000 })
      .toBe('running');

    await ok(['abort', 'shop.podinfo.4', '--reason', 'not today']);
    const watched = await aviary(['watch', 'shop.podinfo.4', '-o', 'json']);
    expect(watched.code).toBe(11);
    const last = JSON.parse(watched.stdout.trimEnd().split('\n').at(-1) ?? '{}');
    expect(last.release).toMatchObject({ status: 'finished', outcome: 'RELEASE_OUTCOME_ABORTED' });

    const refused = await aviary(['pause', 'shop.podinfo.4']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('has finished');
  });

  it('imports a Flagger Canary locally, without a server', async () => {
    const run = await ok(['import', 'flagger', '-f', 'canary.yaml'], {
      server: 'http://127.0.0.1:1',
    });
    expect(run.stdout).toMatch(/^# Import notes:/m);
    expect(run.stdout).toContain('interval');
    const rollout = parse(run.stdout);
    expect(rollout).toMatchObject({
      kind: 'Rollout',
      metadata: { name: 'podinfo', namespace: 'test' },
      spec: { analysis: { threshold: 5, stepWeight: 10, maxWeight: 50 } },
    });
    // What it prints is a Rollout the orchestrator accepts.
    const applied = await ok(['apply', '-f', '-'], { stdin: run.stdout });
    expect(applied.stdout).toMatch(/^rollout\.aviary\.dev\/test\/podinfo configured/);
  });

  it('says what to do next: not found (2), usage (1), bad token or role (4), unreachable (5)', async () => {
    const missing = await aviary(['describe', 'release', 'shop.podinfo.99']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('shop.podinfo.99 not found');

    expect((await aviary(['frobnicate'])).code).toBe(1);
    expect((await aviary(['get', 'releases', '--bogus'])).code).toBe(1);
    expect((await aviary(['get', 'releases', '-o', 'xml'])).code).toBe(1);

    const badToken = await aviary(['get', 'releases'], { token: 'not-a-valid-token-at-all' });
    expect(badToken.code).toBe(4);
    expect(badToken.stderr).toContain('export AVIARY_TOKEN=');
    expect(badToken.stderr).not.toContain('not-a-valid-token-at-all');
    const noToken = await aviary(['get', 'releases'], { token: null });
    expect(noToken.code).toBe(4);
    expect(noToken.stderr).toContain('no token: export AVIARY_TOKEN=');
    const viewer = await aviary(['pause', 'shop.podinfo.2'], { token: TOKENS.viewer });
    expect(viewer.code).toBe(4);
    expect(viewer.stderr).toContain('operator role');

    const down = await aviary(['get', 'releases'], { server: 'http://127.0.0.1:9' });
    expect(down.code).toBe(5);
    expect(down.stderr).toContain('cannot reach the orchestrator at http://127.0.0.1:9');
    expect(orchestrator.errors).toEqual([]);
  });
});
