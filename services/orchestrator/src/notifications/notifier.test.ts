import { createReleaseDecider, validateRollout } from '@aviary/decider';
import {
  type AppendResult,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  openPGliteEventStore,
} from '@aviary/event-store';
import { createLogger } from '@aviary/platform';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reply, startTestServer, type TestServer } from '../webhooks/test-server.ts';
import { Notifier, type NotifierOptions } from './notifier.ts';
import type { AlertProvider } from './providers.ts';

/** ReleaseStarted as the release decider writes it, for a spec with the given alerts. */
function releaseStarted(alerts: readonly object[]): NewEvent {
  const rollout = validateRollout({
    apiVersion: 'aviary.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { stepWeight: 10, alerts },
      fleet: {
        waves: [
          { name: 'canary', clusters: ['eu-1'] },
          { name: 'rest', clusters: ['eu-2', 'us-1'] },
        ],
      },
    },
  });
  const decider = createReleaseDecider({ releaseId: 'r1', rollout, revisionId: 'rev-new' });
  const [event] = decider.decide(
    { type: 'StartRelease', data: { clusters: [] } },
    decider.initialState(),
  );
  if (event?.type !== 'ReleaseStarted') throw new Error('the decider did not start the release');
  return { type: event.type, data: event.data };
}

/** The rest of a release that failed in its second wave. */
const LATER_EVENTS: NewEvent[] = [
  { type: 'WaveStarted', data: { waveName: 'canary', clusters: ['eu-1'] } },
  { type: 'CanaryPromoted', data: { cluster: 'eu-1', revisionId: 'rev-new' } },
  { type: 'WaveStarted', data: { waveIndex: 1, waveName: 'rest', clusters: ['eu-2', 'us-1'] } },
  {
    type: 'NotificationRequested',
    data: {
      cluster: 'us-1',
      severity: 'NOTIFICATION_SEVERITY_WARN',
      message: 'Canary is waiting for approval.',
    },
  },
  {
    type: 'CanaryRolledBack',
    data: {
      cluster: 'us-1',
      revisionId: 'rev-new',
      reason: 'Failed checks threshold reached 2',
      failedChecks: 2,
    },
  },
  {
    type: 'FleetHalted',
    data: {
      waveIndex: 1,
      cluster: 'us-1',
      failurePolicy: 'FAILURE_POLICY_HALT',
      reason: 'canary failed in us-1',
    },
  },
  {
    type: 'ReleaseFinished',
    data: { outcome: 'RELEASE_OUTCOME_FAILED', reason: 'halted in wave rest' },
  },
];

function must(position: GlobalPosition | undefined): GlobalPosition {
  if (position === undefined) throw new Error('the append wrote nothing');
  return position;
}

describe('Notifier on a PGlite event log', () => {
  let store: EventStore;
  let slack: TestServer;
  let teams: TestServer;
  let discord: TestServer;
  let generic: TestServer;
  let logLines: string[];
  let notifier: Notifier | undefined;

  beforeEach(async () => {
    store = await openPGliteEventStore();
    [slack, teams, discord, generic] = await Promise.all([
      startTestServer(reply(200, 'ok')),
      startTestServer(reply(202, '1')),
      startTestServer(reply(200, 'ok')),
      startTestServer(reply(204)),
    ]);
    logLines = [];
  });
  afterEach(async () => {
    await notifier?.stop();
    notifier = undefined;
    await Promise.all([slack, teams, discord, generic].map((s) => s.close()));
    await store.close();
  });

  const addresses = () => ({
    slack: `${slack.origin}/services/T000/B000/SLACKTOKEN`,
    teams: `${teams.origin}/webhookb2/TEAMSTOKEN`,
    discord: `${discord.origin}/api/webhooks/123/DISCORDTOKEN`,
    generic: `${generic.origin}/hooks/GENERICTOKEN?token=QUERYTOKEN`,
  });

  const providers = (): AlertProvider[] => [
    {
      name: 'slack',
      namespace: 'test',
      type: 'slack',
      address: addresses().slack,
      channel: '#releases',
      username: 'aviary',
    },
    { name: 'teams', type: 'msteams', address: addresses().teams },
    { name: 'discord', type: 'discord', address: addresses().discord },
    { name: 'pager', type: 'generic', address: addresses().generic },
  ];

  const start = (options: Partial<NotifierOptions> = {}) => {
    notifier = new Notifier({
      store,
      providers: providers(),
      defaultProviders: ['pager'],
      pollIntervalMs: 20,
      delivery: { backoffMs: 10, timeoutMs: 1_000 },
      logger: createLogger({
        service: 'test',
        level: 'debug',
        destination: { write: (line: string) => logLines.push(line) },
      }),
      ...options,
    });
    return notifier.start();
  };

  async function appendRelease(alerts: readonly object[]): Promise<AppendResult> {
    await store.append('release-r1', [releaseStarted(alerts)], { expectedVersion: 'no_stream' });
    return store.append('release-r1', LATER_EVENTS, { expectedVersion: 1n });
  }

  const ALERTS = [
    { name: 'chat', severity: 'info', providerRef: { name: 'slack' } },
    { name: 'teams', severity: 'warn', providerRef: { name: 'teams', namespace: 'infra' } },
    { name: 'discord', severity: 'error', providerRef: { name: 'discord' } },
    { name: 'ghost', severity: 'error', providerRef: { name: 'ghost' } },
    { name: 'ghost-again', severity: 'info', providerRef: { name: 'ghost' } },
  ];

  it('routes by alert severity, formats each provider’s payload, and never logs an address', async () => {
    const appended = await appendRelease(ALERTS);
    await start().waitFor(must(appended.position));

    // Slack (severity info): everything, in log order, Flagger's attachment shape.
    const slackBodies = slack.requests.map((r) => JSON.parse(r.body));
    expect(slack.requests.every((r) => r.path === '/services/T000/B000/SLACKTOKEN')).toBe(true);
    expect(slackBodies.map((b) => b.attachments[0].text)).toEqual([
      'Wave canary started: eu-1.',
      'Canary analysis completed successfully, promotion finished in eu-1 (revision rev-new).',
      'Wave rest started: eu-2, us-1.',
      'Canary is waiting for approval.',
      'Canary rolled back in us-1 after 2 failed checks.',
      'Release halted: the canary failed in us-1, no further wave starts.',
      'Release finished: failed.',
    ]);
    expect(slackBodies[4]).toEqual({
      channel: '#releases',
      username: 'aviary',
      icon_emoji: ':rocket:',
      attachments: [
        {
          color: 'danger',
          author_name: 'podinfo.test',
          fallback: 'podinfo.test: Canary rolled back in us-1 after 2 failed checks.',
          text: 'Canary rolled back in us-1 after 2 failed checks.',
          mrkdwn_in: ['text'],
          fields: [
            { title: 'Release', value: 'r1', short: false },
            { title: 'Revision', value: 'rev-new', short: false },
            { title: 'Cluster', value: 'us-1', short: false },
            { title: 'Wave', value: 'rest', short: false },
            { title: 'Reason', value: 'Failed checks threshold reached 2', short: false },
          ],
        },
      ],
    });
    expect(slackBodies.map((b) => b.attachments[0].color)).toEqual([
      'good',
      'good',
      'good',
      'warning',
      'danger',
      'danger',
      'danger',
    ]);
    expect(slackBodies[1].attachments[0].fields).toContainEqual({
      title: 'Wave',
      value: 'canary',
      short: false,
    });

    // Teams (severity warn, fleet-wide provider found from namespace infra): warn and error.
    const cards = teams.requests.map((r) => JSON.parse(r.body));
    expect(cards.map((c) => c.themeColor)).toEqual(['FFA500', 'FF0000', 'FF0000', 'FF0000']);
    expect(cards[0]).toEqual({
      '@type': 'MessageCard',
      '@context': 'http://schema.org/extensions',
      themeColor: 'FFA500',
      summary: 'podinfo.test',
      sections: [
        {
          activityTitle: 'Canary is waiting for approval.',
          activitySubtitle: 'podinfo.test',
          facts: [
            { name: 'Release', value: 'r1' },
            { name: 'Revision', value: 'rev-new' },
            { name: 'Cluster', value: 'us-1' },
            { name: 'Wave', value: 'rest' },
          ],
        },
      ],
    });

    // Discord (severity error): the errors, as Slack payloads on its /slack endpoint.
    expect(discord.requests.map((r) => r.path)).toEqual([
      '/api/webhooks/123/DISCORDTOKEN/slack',
      '/api/webhooks/123/DISCORDTOKEN/slack',
      '/api/webhooks/123/DISCORDTOKEN/slack',
    ]);
    expect(discord.requests.map((r) => JSON.parse(r.body).attachments[0].color)).toEqual([
      'danger',
      'danger',
      'danger',
    ]);

    // The generic default provider: every error, Aviary's JSON.
    const generics = generic.requests.map((r) => JSON.parse(r.body));
    expect(generics.map((g) => g.event)).toEqual([
      'CanaryRolledBack',
      'FleetHalted',
      'ReleaseFinished',
    ]);
    expect(generics[1]).toEqual({
      id: expect.any(String),
      event: 'FleetHalted',
      release: 'r1',
      application: { namespace: 'test', name: 'podinfo' },
      revision: 'rev-new',
      cluster: 'us-1',
      wave: 'rest',
      severity: 'error',
      reason: 'canary failed in us-1',
      message: 'Release halted: the canary failed in us-1, no further wave starts.',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(generics[2]).toMatchObject({ wave: 'rest', cluster: '', reason: 'halted in wave rest' });
    expect(generic.requests[0]?.headers['x-aviary-notification-id']).toBe(generics[0].id);

    // Logs: the unknown provider once, deliveries by provider name, never an address.
    const log = logLines.join('');
    const unknown = logLines.filter((l) => l.includes('alert names an unknown provider'));
    expect(unknown).toHaveLength(1);
    expect(JSON.parse(unknown[0] ?? '{}')).toMatchObject({ provider: 'test/ghost' });
    expect(logLines.filter((l) => l.includes('"notification delivered"'))).toHaveLength(17);
    for (const secret of [
      'SLACKTOKEN',
      'TEAMSTOKEN',
      'DISCORDTOKEN',
      'GENERICTOKEN',
      'QUERYTOKEN',
    ]) {
      expect(log).not.toContain(secret);
    }
  });

  it('retries a failing provider, gives up, logs it without the address, and goes on', async () => {
    slack.handler = (request, response) => {
      response.writeHead(500);
      response.end(`no such hook ${request.path}`); // the path holds the token
    };
    const appended = await appendRelease([
      { name: 'chat', severity: 'error', providerRef: { name: 'slack' } },
    ]);
    await start({ delivery: { backoffMs: 5, attempts: 2 } }).waitFor(must(appended.position));
    // Three errors, two attempts each.
    expect(slack.requests).toHaveLength(6);
    const failures = logLines
      .filter((l) => l.includes('notification not delivered'))
      .map((l) => JSON.parse(l));
    expect(failures).toHaveLength(3);
    expect(failures[0]).toMatchObject({
      provider: 'test/slack',
      providerType: 'slack',
      attempts: 2,
      status: 500,
      reason: 'HTTP 500: no such hook [redacted]',
    });
    expect(logLines.join('')).not.toContain('SLACKTOKEN');
    // The generic default provider still got every error.
    expect(generic.requests).toHaveLength(3);
  });

  it('reads the release context from the stream when its ReleaseStarted is behind the checkpoint', async () => {
    await store.append('release-r1', [releaseStarted(ALERTS)], { expectedVersion: 'no_stream' });
    await store.append('release-r1', LATER_EVENTS.slice(0, 3), { expectedVersion: 1n });
    const head = await store.readAll();
    await store.checkpoints.store('notifications', head.position);
    const appended = await store.append('release-r1', LATER_EVENTS.slice(3), {
      expectedVersion: 4n,
    });
    await start().waitFor(must(appended.position));
    const texts = slack.requests.map((r) => JSON.parse(r.body).attachments[0]);
    expect(texts.map((a) => a.text)).toEqual([
      'Canary is waiting for approval.',
      'Canary rolled back in us-1 after 2 failed checks.',
      'Release halted: the canary failed in us-1, no further wave starts.',
      'Release finished: failed.',
    ]);
    // The current wave came from the WaveStarted events read back.
    expect(texts[3].fields).toContainEqual({ title: 'Wave', value: 'rest', short: false });
  });

  it('reports a pause the decider made (configuration error) as a warning, not an operator’s own', async () => {
    await store.append('release-r1', [releaseStarted(ALERTS)], { expectedVersion: 'no_stream' });
    const reason =
      'configuration error in check request-duration: provider query-rejected: bad_data: parse error';
    const appended = await store.append(
      'release-r1',
      [
        { type: 'WaveStarted', data: { waveName: 'canary', clusters: ['eu-1'] } },
        { type: 'ReleasePaused', data: { cluster: 'eu-1', reason } },
        { type: 'ReleaseResumed', data: { cluster: 'eu-1', actor: 'alice' } },
        { type: 'ReleasePaused', data: { cluster: 'eu-1', reason: 'lunch', actor: 'alice' } },
      ],
      { expectedVersion: 1n },
    );
    await start().waitFor(must(appended.position));
    // Slack (info) and Teams (warn) get it; Discord and the generic default (error) do not.
    const slackTexts = slack.requests.map((r) => JSON.parse(r.body).attachments[0]);
    expect(slackTexts.map((a) => [a.text, a.color])).toEqual([
      ['Wave canary started: eu-1.', 'good'],
      ['Canary paused in eu-1: waiting for an operator to resume it.', 'warning'],
    ]);
    expect(slackTexts[1].fields).toEqual(
      expect.arrayContaining([
        { title: 'Cluster', value: 'eu-1', short: false },
        { title: 'Wave', value: 'canary', short: false },
        { title: 'Reason', value: reason, short: false },
      ]),
    );
    const cards = teams.requests.map((r) => JSON.parse(r.body));
    expect(cards.map((c) => [c.themeColor, c.sections[0].activityTitle])).toEqual([
      ['FFA500', 'Canary paused in eu-1: waiting for an operator to resume it.'],
    ]);
    expect(discord.requests).toHaveLength(0);
    expect(generic.requests).toHaveLength(0);
  });

  it('does not notify events older than maxAgeMs', async () => {
    const appended = await appendRelease(ALERTS);
    await start({ now: () => Date.now() + 2 * 60 * 60_000 }).waitFor(must(appended.position));
    expect(slack.requests).toHaveLength(0);
    expect(generic.requests).toHaveLength(0);
  });

  it('refuses a default provider that is not configured', () => {
    expect(
      () => new Notifier({ store, providers: providers(), defaultProviders: ['nope'] }),
    ).toThrow(
      'default notification provider "nope" is not among the configured alert providers (test/slack, teams, discord, pager)',
    );
  });
});
