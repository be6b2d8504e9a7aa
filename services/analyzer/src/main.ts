/**
 * Composition root of the analyzer: configuration, NATS, Aviary's streams, the metric providers
 * and their budgets, the scheduler, and the analysis service consuming `AnalysisRequest`s and
 * publishing `AnalysisVerdict`s (docs/analyzer-service.md). Provider keys are handed to the
 * providers only, never logged.
 */
import { readFile } from 'node:fs/promises';
import {
  analysisRequestSubject,
  connectNats,
  ensureStreams,
  messagingNamespace,
  natsConfigFields,
  natsConnectOptions,
} from '@aviary/messaging';
import {
  configFields,
  createLogger,
  loadConfigOrExit,
  runService,
  serviceConfigFields,
  z,
} from '@aviary/platform';
import { createScheduler } from './scheduler/index.ts';
import { startAnalysisService } from './service/analysis-service.ts';
import { countsBucketName, KvCountHistory } from './service/count-history.ts';
import { KvHistogramHistory } from './service/histogram-history.ts';
import { parseMetricTemplates } from './service/metric-templates.ts';
import { createProviders } from './service/providers.ts';

const SERVICE = 'analyzer';

const configSchema = z.object({
  ...natsConfigFields,
  /** AVIARY_STREAM_REPLICAS: 1 on a single NATS server, 3 in a JetStream cluster. */
  streamReplicas: z.number().int().min(1).max(5).default(1),
  /** AVIARY_DUPLICATE_WINDOW_MS (`2m`, `120000`): duplicate window of observations and analysis. */
  duplicateWindowMs: configFields.durationMs().default(2 * 60_000),
  /** AVIARY_PROMETHEUS_URL: a Prometheus-compatible API (Prometheus, Thanos, Mimir); unset: none. */
  prometheusUrl: configFields.url(['http', 'https']).optional(),
  /** AVIARY_PROMETHEUS_CLUSTER_LABEL: the label naming the cluster on every series (Thanos, Mimir). */
  prometheusClusterLabel: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/)
    .optional(),
  /** AVIARY_PROMETHEUS_MAX_CONCURRENCY: queries in flight at most (AIMD below it). */
  prometheusMaxConcurrency: z.number().int().min(1).max(1000).default(10),
  /** AVIARY_PROMETHEUS_INGESTION_DELAY_MS: default 30 s. */
  prometheusIngestionDelayMs: configFields.durationMs().optional(),
  /** AVIARY_DATADOG_API_KEY / AVIARY_DATADOG_APP_KEY: both set enables Datadog. Never logged. */
  datadogApiKey: z.string().min(1).optional(),
  datadogAppKey: z.string().min(1).optional(),
  /** AVIARY_DATADOG_SITE: `datadoghq.com` (default), `datadoghq.eu`, … */
  datadogSite: z
    .string()
    .regex(/^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/)
    .optional(),
  /** AVIARY_DATADOG_BASE_URL: overrides the site (a proxy, or the simulator). */
  datadogBaseUrl: configFields.url(['http', 'https']).optional(),
  /** AVIARY_DATADOG_MAX_QUERIES_PER_REQUEST: default 20. */
  datadogMaxQueriesPerRequest: z.number().int().min(1).max(35).optional(),
  /** AVIARY_DATADOG_INGESTION_DELAY_MS: default 2 min. */
  datadogIngestionDelayMs: configFields.durationMs().optional(),
  /** AVIARY_METRIC_TEMPLATES: JSON `{ name: { provider, query } | { provider, total, bad } }`. */
  metricTemplates: z.string().optional(),
  /** AVIARY_METRIC_TEMPLATES_FILE: the same JSON in a file (used when METRIC_TEMPLATES is unset). */
  metricTemplatesFile: z.string().optional(),
  /** AVIARY_ROUND_INTERVAL_MS: the round timer (due requests, keep-alive of held ones). */
  roundIntervalMs: configFields.durationMs().default(15_000),
  /**
   * AVIARY_COMPARISON_COUNTS_TTL_MS: how long the canary-vs-primary counts of a release are kept
   * in the `<PREFIX>_ANALYZER_COUNTS` KV bucket after their last window (default 48 h).
   */
  comparisonCountsTtlMs: configFields.durationMs().default(48 * 3_600_000),
  /** AVIARY_ANALYSIS_CONSUMER: the durable consumer's name. */
  analysisConsumer: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('analyzer'),
  ...serviceConfigFields,
});

const config = loadConfigOrExit(configSchema, { prefix: 'AVIARY', service: SERVICE });
const logger = createLogger({ service: SERVICE, level: config.logLevel, pretty: config.logPretty });

await runService({
  name: SERVICE,
  logger,
  stopTimeoutMs: config.shutdownTimeoutMs,
  start: async (signal, { onStop }) => {
    const namespace = messagingNamespace(config.messagingNamespace);
    const nats = await connectNats({
      name: `aviary-${SERVICE}`,
      logger,
      signal,
      ...natsConnectOptions(config),
    });
    onStop('nats', () => nats.close());

    const jsm = await nats.jetstreamManager({ signal });
    const streams = await ensureStreams(jsm, {
      namespace,
      replicas: config.streamReplicas,
      duplicateWindowMs: config.duplicateWindowMs,
      signal,
    });
    for (const stream of streams) {
      logger.info(
        { stream: stream.name, action: stream.action, changed: stream.changed },
        'stream ensured',
      );
    }

    const templatesJson =
      config.metricTemplates ??
      (config.metricTemplatesFile === undefined
        ? undefined
        : await readFile(config.metricTemplatesFile, { encoding: 'utf8', signal }));
    const templates = parseMetricTemplates(templatesJson);
    if ((config.datadogApiKey === undefined) !== (config.datadogAppKey === undefined)) {
      throw new Error('AVIARY_DATADOG_API_KEY and AVIARY_DATADOG_APP_KEY come together');
    }
    const providers = createProviders({
      ...(config.prometheusUrl === undefined
        ? {}
        : {
            prometheus: {
              address: config.prometheusUrl,
              maxConcurrency: config.prometheusMaxConcurrency,
              ...(config.prometheusIngestionDelayMs === undefined
                ? {}
                : { ingestionDelayMs: config.prometheusIngestionDelayMs }),
              ...(config.prometheusClusterLabel === undefined
                ? {}
                : { clusterLabel: config.prometheusClusterLabel }),
            },
          }),
      ...(config.datadogApiKey === undefined || config.datadogAppKey === undefined
        ? {}
        : {
            datadog: {
              apiKey: config.datadogApiKey,
              appKey: config.datadogAppKey,
              ...(config.datadogSite === undefined ? {} : { site: config.datadogSite }),
              ...(config.datadogBaseUrl === undefined ? {} : { baseUrl: config.datadogBaseUrl }),
              ...(config.datadogMaxQueriesPerRequest === undefined
                ? {}
                : { maxQueriesPerRequest: config.datadogMaxQueriesPerRequest }),
              ...(config.datadogIngestionDelayMs === undefined
                ? {}
                : { ingestionDelayMs: config.datadogIngestionDelayMs }),
            },
          }),
    });
    const scheduler = createScheduler({
      providers: providers.scheduled,
      roundMs: config.roundIntervalMs,
    });
    const bucket = {
      jetstream: nats.jetstream,
      bucket: countsBucketName(namespace.streamPrefix),
      ttlMs: config.comparisonCountsTtlMs,
      replicas: config.streamReplicas,
    };
    // Counts and latency histograms of comparisons, in one bucket (keys `cmp.…` and `lat.…`).
    const comparisonCounts = await KvCountHistory.open(bucket);
    const latencyHistograms = await KvHistogramHistory.open(bucket);
    const service = await startAnalysisService(
      {
        comparisonCounts,
        latencyHistograms,
        nats,
        namespace,
        scheduler,
        providers: providers.scheduled.map((p) => p.planning),
        requests: { templates, providers: providers.ids },
        logger,
        consumerName: config.analysisConsumer,
        roundIntervalMs: config.roundIntervalMs,
      },
      signal,
    );
    logger.info(
      {
        requests: analysisRequestSubject(namespace),
        providers: Object.keys(providers.ids),
        templates: Object.keys(templates),
        roundIntervalMs: config.roundIntervalMs,
      },
      'analyzer consuming analysis requests',
    );
    return service;
  },
});
