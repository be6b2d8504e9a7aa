import { fileURLToPath } from 'node:url';
import {
  analysisRequestSubject,
  connectNats,
  messagingNamespace,
  type NatsClient,
  streamNames,
} from '@aviary/messaging';
import { createLogger } from '@aviary/platform';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEnv, uniqueName } from '../../../test/env.ts';
import { countsBucketName } from './service/count-history.ts';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const byMsg = (msg: string) => (line: LogLine) => line.msg === msg;

let nats: NatsClient;
let namespace: string;

beforeEach(async () => {
  namespace = uniqueName('analyzer');
  nats = await connectNats({
    servers: testEnv.natsUrl,
    name: 'analyzer-test',
    logger: createLogger({ service: 'test', level: 'silent' }),
  });
});

afterEach(async () => {
  const jsm = await nats.jetstreamManager();
  const ns = messagingNamespace(namespace);
  for (const stream of Object.values(streamNames(ns))) {
    await jsm.streams.delete(stream).catch(() => false);
  }
  // The comparison counts' KV bucket (a stream named KV_<bucket>).
  await jsm.streams.delete(`KV_${countsBucketName(ns.streamPrefix)}`).catch(() => false);
  await nats.close();
});

function startAnalyzer() {
  return spawnService(main, {
    env: {
      AVIARY_NATS_URL: testEnv.natsUrl,
      AVIARY_MESSAGING_NAMESPACE: namespace,
      AVIARY_DUPLICATE_WINDOW_MS: '90s',
      AVIARY_DATADOG_API_KEY: 'secret-api-key',
      AVIARY_DATADOG_APP_KEY: 'secret-app-key',
      AVIARY_DATADOG_BASE_URL: 'http://127.0.0.1:9',
      AVIARY_ROUND_INTERVAL_MS: '1s',
      AVIARY_METRIC_TEMPLATES: JSON.stringify({
        'request-success-rate': {
          provider: 'datadog',
          total: 'sum:hits{kube_deployment:{{ target }}}.as_count()',
          bad: 'sum:errors{kube_deployment:{{ target }}}.as_count()',
        },
      }),
    },
  });
}

describe('analyzer main', () => {
  it('connects, ensures the streams, consumes analysis requests, and stops on SIGTERM', async () => {
    const analyzer = startAnalyzer();
    await analyzer.waitForLine(byMsg('ready'));

    const names = streamNames(messagingNamespace(namespace));
    expect(analyzer.lines.filter(byMsg('stream ensured')).map((l) => [l.stream, l.action])).toEqual(
      [
        [names.observations, 'created'],
        [names.commands, 'created'],
        [names.analysis, 'created'],
      ],
    );
    const jsm = await nats.jetstreamManager();
    expect((await jsm.streams.info(names.analysis)).config.duplicate_window).toBe(90_000_000_000);
    expect(analyzer.lines.find(byMsg('analyzer consuming analysis requests'))).toMatchObject({
      providers: ['datadog'],
      templates: ['request-success-rate'],
    });
    // The durable consumer exists, filtered to the request subject.
    const consumer = await jsm.consumers.info(names.analysis, 'analyzer');
    expect(consumer.config.filter_subject).toBe(
      analysisRequestSubject(messagingNamespace(namespace)),
    );
    // Keys never reach the log.
    const log = JSON.stringify(analyzer.lines);
    expect(log).not.toContain('secret-api-key');
    expect(log).not.toContain('secret-app-key');

    const { code } = await analyzer.stop('SIGTERM');

    expect(code).toBe(0);
    expect(analyzer.lines.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('leaves existing streams unchanged when started again', async () => {
    const first = startAnalyzer();
    await first.waitForLine(byMsg('ready'));
    expect((await first.stop('SIGINT')).code).toBe(0);

    const second = startAnalyzer();
    await second.waitForLine(byMsg('ready'));
    expect(second.lines.filter(byMsg('stream ensured')).map((l) => l.action)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
    expect((await second.stop('SIGTERM')).code).toBe(0);
  });
});
