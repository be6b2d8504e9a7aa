/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
 * orchestrator in this process (`test-orchestrator.ts`): what a user sees when they sign in, watch
 * a release walk the fleet, read its timeline, charts and verdicts, and act on it, and that the
 * actions take effect in the orchestrator.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiToken } from '../api/auth.ts';
import type { Actor } from '../ports.ts';
import { startTestOrchestrator, type TestOrchestrator } from './test-orchestrator.ts';

const CHROMIUM = process.env.AVIARY_TEST_CHROMIUM ?? '/usr/bin/chromium';
const VIEWER = 'viewer-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';
const TOKENS: ApiToken[] = [
  { name: 'vera', role: 'viewer', token: VIEWER },
  { name: 'otto', role: 'operator', token: OPERATOR },
];
const alice: Actor = { name: 'alice', role: 'operator' };
const workload = { namespace: 'shop', name: 'podinfo', kind: 'WORKLOAD_KIND_DEPLOYMENT' } as const;

/** Promotion waits at the closed gate `approve`, so the test can look at a canary mid-way. */
const SPEC = `
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
      - { name: canary, clusters: [eu-1], bake: 0s }
      - { name: rest, clusters: [eu-2, us-1], maxParallel: all, bake: 0s }
  analysis:
    intervalMs: 2000
    threshold: 2
    stepWeight: 25
    maxWeight: 50
    metrics:
      - { name: request-success-rate, intervalMs: 1000, thresholdRange: { min: 99 } }
      - { name: request-duration, intervalMs: 1000, thresholdRange: { max: 500 } }
    webhooks:
      - { name: approval, type: confirm-promotion, url: "aviary-gate:approve" }
`;

/** Waits for the page to show what it was asked for (a navigation, a few API reads). */
const UI = { timeout: 15_000, interval: 100 };
/** Waits for UI changes driven by a running release (seconds of simulated canary steps). */
const SLOW = { timeout: 60_000, interval: 100 };

/**
 * Run in the page (a string: the repository's type-check has no DOM types): records in
 * `window.seen` every state (release, phase, weight) that eu-1's cell of shop/podinfo shows.
 */
const RECORD_EU1 = `(() => {
  const seen = [];
  window.seen = seen;
  const main = document.getElementById('main');
  new MutationObserver(() => {
    const table = main.querySelector('section[data-application="shop/podinfo"] table');
    const eu1 = table?.querySelector('td[data-cluster="eu-1"]');
    if (!table || !eu1) return;
    const state = table.getAttribute('data-release') + ' ' + eu1.getAttribute('data-phase') +
      ' ' + eu1.getAttribute('data-weight');
    if (seen.at(-1) !== state) seen.push(state);
  }).observe(main, { subtree: true, childList: true, attributes: true });
})()`;

let orchestrator: TestOrchestrator;
let browser: Browser;
let page: Page;
const problems: string[] = [];

async function releaseStatus(id: string): Promise<string | undefined> {
  return (await orchestrator.readModel.release(id))?.status;
}

/** `CANARY_PHASE_WAITING_PROMOTION` → `WaitingPromotion`. */
function phaseWord(phase: string): string {
  return phase
    .replace(/^CANARY_PHASE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, _sep: string, letter: string) => letter.toUpperCase());
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${orchestrator.url}/`);
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('dashboard in a browser', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set AVIARY_TEST_CHROMIUM`,
      );
    }
    orchestrator = await startTestOrchestrator({
      tokens: TOKENS,
      clusters: [
        { name: 'eu-1', labels: { region: 'eu' } },
        { name: 'eu-2', labels: { region: 'eu' } },
        { name: 'us-1', labels: { region: 'us' } },
      ],
    });
    await orchestrator.engine.applySpec(SPEC, alice);
    await orchestrator.fleet.heartbeats();
    await orchestrator.fleet.deploy(workload, 'v1');
    for (let i = 0; (await releaseStatus('shop.podinfo.1')) !== 'finished'; i++) {
      if (i > 300) throw new Error('the bootstrap release shop.podinfo.1 did not finish');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    // Script errors, CSP violations and failed loads show as console errors; checked at the end.
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await orchestrator?.stop();
  });

  it('refuses a bad token clearly', async () => {
    await signIn('not-a-valid-token-at-all');
    const error = page.locator('#sign-in-error');
    await expect.poll(() => error.isVisible(), UI).toBe(true);
    expect(await error.textContent()).toContain(
      'The token was refused: the bearer token is not valid',
    );
    expect(await page.evaluate(() => sessionStorage.getItem('aviary.token'))).toBeNull();
    expect(await page.locator('#who').isVisible()).toBe(false);
  });

  it('signs a viewer in, shows the role, and updates the fleet grid live as a release runs', async () => {
    await signIn(VIEWER);
    await expect.poll(() => page.locator('#who [data-role]').textContent(), UI).toBe('viewer');
    expect(await page.locator('#who').textContent()).toContain('vera');
    const app = page.locator('section[data-application="shop/podinfo"]');
    await expect.poll(() => app.locator('.release-link').textContent(), UI).toBe('shop.podinfo.1');
    expect(await app.locator('[data-status]').textContent()).toBe('succeeded');
    expect(
      await app
        .locator('td[data-cluster]')
        .evaluateAll((cells) =>
          cells.map((c) => `${c.getAttribute('data-cluster')} ${c.textContent}`),
        ),
    ).toEqual(
      // The bootstrap release only initializes each cluster: what the read model says, shown.
      (await orchestrator.readModel.canaries('shop.podinfo.1')).map(
        (c) => `${c.cluster} ${phaseWord(c.phase)}${c.canaryWeightPercent}%`,
      ),
    );
    expect(await page.locator('#live').textContent()).toContain('live');

    // Every state eu-1's cell shows from now on, recorded in the page (no reload happens).
    await page.evaluate(RECORD_EU1);
    await orchestrator.fleet.deploy(workload, 'v2');

    const eu1 = app.locator('table[data-release="shop.podinfo.2"] td[data-cluster="eu-1"]');
    await expect.poll(() => eu1.getAttribute('data-phase'), SLOW).toBe('WaitingPromotion');
    expect(await eu1.textContent()).toContain('50%');
    expect(await app.locator('.release-link').textContent()).toBe('shop.podinfo.2');
    expect(await app.locator('[data-status]').textContent()).toBe('running');
    expect(await app.locator('td[data-cluster="eu-2"]').getAttribute('data-phase')).toBe('Pending');
    const seen = (await page.evaluate('window.seen')) as string[];
    const progressing = seen.indexOf('shop.podinfo.2 Progressing 25');
    expect(progressing, seen.join('\n')).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf('shop.podinfo.2 WaitingPromotion 50')).toBeGreaterThan(progressing);
  });

  it('shows the viewer the release timeline, charts and verdicts, and no way to act', async () => {
    await page.locator('section[data-application="shop/podinfo"] .release-link').click();
    await expect
      .poll(() => page.locator('.release-header h1').textContent(), UI)
      .toContain('shop.podinfo.2');
    // Timeline, with reasons.
    const timeline = page.locator('#timeline .entry .summary');
    await expect.poll(() => timeline.allTextContents(), UI).toContain('wave canary started (eu-1)');
    const summaries = await timeline.allTextContents();
    expect(summaries.some((s) => /^eu-1: Initialized → Progressing: /.test(s))).toBe(true);
    expect(summaries).toContain('eu-1: weight 50% → canary');

    // Charts drawn from the verdicts' evidence recorded in the log.
    const chart = page.locator('svg[data-chart="request-success-rate · eu-1"]');
    await expect.poll(() => chart.count(), UI).toBe(1);
    expect(await chart.locator('[data-threshold="min"]').getAttribute('data-value')).toBe('99');
    expect(await chart.locator('[data-threshold="min"] text').textContent()).toBe('min 99 %');
    const entries = await orchestrator.readModel.timeline('shop.podinfo.2', { limit: 1000 });
    const recorded = entries
      .filter((e) => e.type === 'AnalysisVerdictRecorded')
      .map(
        (e) => (e.data as { verdict: { checkName: string; evidence: { value: number } } }).verdict,
      )
      .filter((v) => v.checkName === 'request-success-rate');
    expect(recorded.length).toBeGreaterThan(0);
    const canaryValues = (
      await chart
        .locator('[data-series="canary"] .point')
        .evaluateAll((points) => points.map((p) => Number(p.getAttribute('data-value'))))
    ).slice(0, recorded.length);
    expect(canaryValues).toEqual(
      recorded.map((v) => v.evidence.value).slice(0, canaryValues.length),
    );
    expect(await chart.locator('[data-series="primary"] .point').count()).toBeGreaterThan(0);
    const latency = page.locator('svg[data-chart="request-duration · eu-1"]');
    expect(await latency.locator('[data-threshold="max"]').getAttribute('data-value')).toBe('500');
    expect(
      await page
        .locator(
          'svg[data-chart="request-duration · eu-1: bad requests"] [data-series="primary"] .point',
        )
        .count(),
    ).toBeGreaterThan(0);

    // Verdicts with their evidence.
    const verdict = page.locator('#verdicts tr.verdict[data-check="request-success-rate"]').first();
    expect(await verdict.locator('.outcome').textContent()).toBe('successful');
    expect(await verdict.textContent()).toContain('≥ 99 %');

    // A viewer cannot act.
    expect(await page.locator('#viewer-note').textContent()).toContain('the viewer role');
    const buttons = page.locator('#actions button[data-action]');
    expect(await buttons.count()).toBeGreaterThanOrEqual(13);
    expect(await buttons.evaluateAll((all) => all.every((b) => b.hasAttribute('disabled')))).toBe(
      true,
    );
  });

  it('lets an operator pause the release after confirming; the page and the API show it paused', async () => {
    await page.locator('#sign-out').click();
    await signIn(OPERATOR);
    await expect.poll(() => page.locator('#who [data-role]').textContent(), UI).toBe('operator');
    await page.goto(`${orchestrator.url}/#/releases/shop.podinfo.2`);
    const status = page.locator('.release-header [data-status]');
    await expect.poll(() => status.textContent(), UI).toBe('running');
    expect(await page.locator('#viewer-note').count()).toBe(0);

    const pause = page.locator('#actions button[data-action="pause"][data-scope="release"]');
    const dialog = page.locator('#confirm');
    // Cancelling does nothing.
    await pause.click();
    await expect.poll(() => dialog.isVisible(), UI).toBe(true);
    expect(await page.locator('#confirm-title').textContent()).toBe('Pause shop.podinfo.2');
    await page.locator('#confirm-cancel').click();
    await expect.poll(() => dialog.isVisible(), UI).toBe(false);
    expect(await releaseStatus('shop.podinfo.2')).toBe('running');

    await pause.click();
    await page.locator('#confirm-reason').fill('looking at eu-1');
    await page.locator('#confirm-ok').click();
    await expect.poll(() => status.textContent(), SLOW).toBe('paused');
    await expect
      .poll(() => page.locator('#timeline .entry .summary').allTextContents(), UI)
      .toContain('release paused by otto: looking at eu-1');
    expect(await releaseStatus('shop.podinfo.2')).toBe('paused');
    const viaHttp = await fetch(`${orchestrator.url}/api/v1/releases/shop.podinfo.2`, {
      headers: { authorization: `Bearer ${VIEWER}` },
    });
    expect(await viaHttp.json()).toMatchObject({ status: 'paused', reason: 'looking at eu-1' });
  });

  it("shows the API's 403 clearly when the token may not act", async () => {
    // The tab's token is swapped for a viewer's (as if its role had been lowered meanwhile).
    await page.evaluate((token) => sessionStorage.setItem('aviary.token', token), VIEWER);
    await page.locator('#actions button[data-action="resume"][data-scope="release"]').click();
    await page.locator('#confirm-ok').click();
    const result = page.locator('#action-result');
    await expect.poll(() => result.textContent(), UI).toContain('Not allowed (403 FORBIDDEN)');
    expect(await result.textContent()).toContain('token vera has the viewer role');
    expect(await releaseStatus('shop.podinfo.2')).toBe('paused');
    await page.evaluate((token) => sessionStorage.setItem('aviary.token', token), OPERATOR);
  });

  it('resumes, opens the gate, and follows the release to its end', async () => {
    await page.locator('#actions button[data-action="resume"][data-scope="release"]').click();
    await page.locator('#confirm-ok').click();
    const status = page.locator('.release-header [data-status]');
    await expect.poll(() => status.textContent(), SLOW).toBe('running');

    const gate = page.locator('#actions [data-gate="approve"]');
    expect(await gate.getAttribute('data-open')).toBe('false');
    await gate.locator('button[data-action="gate-open"]').click();
    expect(await page.locator('#confirm-text').textContent()).toContain('open the gate approve');
    await page.locator('#confirm-reason').fill('CAB ok');
    await page.locator('#confirm-ok').click();
    await expect.poll(() => gate.getAttribute('data-open'), SLOW).toBe('true');
    expect(orchestrator.engine.gateOpen({ namespace: 'shop', name: 'podinfo' }, 'approve')).toBe(
      true,
    );

    await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe('succeeded');
    expect(
      await page
        .locator('.release-grid td[data-cluster]')
        .evaluateAll((cells) => cells.map((c) => c.getAttribute('data-phase'))),
    ).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
    expect(await releaseStatus('shop.podinfo.2')).toBe('finished');
    for (const cluster of ['eu-1', 'eu-2', 'us-1']) {
      expect(orchestrator.fleet.primaryRevision(cluster, workload)).toBe('v2');
    }
    // Finished: no action but a retry of a failed one is offered.
    expect(
      await page
        .locator('#actions button[data-scope="release"]')
        .evaluateAll((all) => all.every((b) => b.hasAttribute('disabled'))),
    ).toBe(true);
  });
  it('lets the fleet view show an earlier release, then the latest again', async () => {
    await page.locator('nav a[href="#/"]').click();
    const app = page.locator('section[data-application="shop/podinfo"]');
    await expect
      .poll(() => app.locator('table').getAttribute('data-release'), UI)
      .toBe('shop.podinfo.2');
    await app.locator('select').selectOption('shop.podinfo.1');
    await expect
      .poll(() => app.locator('table').getAttribute('data-release'), UI)
      .toBe('shop.podinfo.1');
    await app.locator('select').selectOption('');
    await expect
      .poll(() => app.locator('table').getAttribute('data-release'), UI)
      .toBe('shop.podinfo.2');
  });

  it('shows a faulty release stopped in the first wave, with its failed verdicts', async () => {
    orchestrator.faulty.add('v3');
    await orchestrator.fleet.deploy(workload, 'v3');
    const app = page.locator('section[data-application="shop/podinfo"]');
    await expect
      .poll(() => app.locator('.release-link').textContent(), SLOW)
      .toBe('shop.podinfo.3');
    await expect.poll(() => app.locator('[data-status]').textContent(), SLOW).toBe('failed');
    expect(await app.locator('td[data-cluster="eu-1"]').getAttribute('data-phase')).toBe('Failed');
    await app.locator('.release-link').click();
    const status = page.locator('.release-header [data-status]');
    await expect.poll(() => status.textContent(), UI).toBe('failed');
    expect(await page.locator('#release-reason').textContent()).toContain('halted');
    const failed = page.locator('#verdicts tr.verdict.outcome-failed');
    expect(await failed.count()).toBeGreaterThanOrEqual(2);
    expect(await failed.first().textContent()).toContain('simulated: revision v3 is faulty');
    const chart = page.locator('svg[data-chart="request-success-rate · eu-1"]');
    expect(await chart.locator('[data-series="canary"] .point.outcome-failed').count()).toBe(
      await page
        .locator('#verdicts tr.verdict.outcome-failed[data-check="request-success-rate"]')
        .count(),
    );
    const summaries = await page.locator('#timeline .entry .summary').allTextContents();
    expect(summaries.some((s) => s.startsWith('eu-1: rolled back v3'))).toBe(true);
    expect(summaries.some((s) => s.startsWith('fleet halted in wave canary'))).toBe(true);
    // A failed release can be retried by an operator.
    expect(await page.locator('#actions button[data-action="retry-release"]').isEnabled()).toBe(
      true,
    );
  });

  it('had no script error or CSP violation in the whole session', () => {
    // Refused requests (the bad token's 401, the swapped token's 403) are logged by the browser.
    const unexpected = problems.filter((p) => !/status of (401|403)/.test(p));
    expect(unexpected).toEqual([]);
  });
});
