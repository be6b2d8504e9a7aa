import { ErrorCode, isAviaryError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  configEnvVarNames,
  configFields,
  envVarName,
  loadConfig,
  parseDurationMs,
} from './config.ts';

const schema = z.object({
  pgUrl: configFields.url(['postgres', 'postgresql']),
  natsServers: configFields.urlList(['nats', 'tls']).default(['nats://127.0.0.1:4222']),
  logLevel: configFields.logLevel().default('info'),
  httpPort: configFields.port().default(8080),
  shutdownTimeoutMs: configFields.durationMs().default(10_000),
  prettyLogs: z.boolean().default(false),
  clusterName: z.string().optional(),
});

const prefix = { prefix: 'AVIARY' };

function loadError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(schema, env, prefix);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults when only the required variables are set', () => {
    expect(loadConfig(schema, { AVIARY_PG_URL: 'postgres://db/aviary' }, prefix)).toEqual({
      pgUrl: 'postgres://db/aviary',
      natsServers: ['nats://127.0.0.1:4222'],
      logLevel: 'info',
      httpPort: 8080,
      shutdownTimeoutMs: 10_000,
      prettyLogs: false,
    });
  });

  it('coerces numbers, durations, booleans and lists from text', () => {
    const config = loadConfig(
      schema,
      {
        AVIARY_PG_URL: 'postgresql://u@db/aviary',
        AVIARY_NATS_SERVERS: 'nats://a:4222, nats://b:4222',
        AVIARY_LOG_LEVEL: 'debug',
        AVIARY_HTTP_PORT: ' 9000 ',
        AVIARY_SHUTDOWN_TIMEOUT_MS: '1m30s',
        AVIARY_PRETTY_LOGS: 'yes',
        AVIARY_CLUSTER_NAME: 'eu-1',
      },
      prefix,
    );
    expect(config).toEqual({
      pgUrl: 'postgresql://u@db/aviary',
      natsServers: ['nats://a:4222', 'nats://b:4222'],
      logLevel: 'debug',
      httpPort: 9000,
      shutdownTimeoutMs: 90_000,
      prettyLogs: true,
      clusterName: 'eu-1',
    });
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig(
      schema,
      { AVIARY_PG_URL: 'postgres://db/a', AVIARY_HTTP_PORT: '', AVIARY_CLUSTER_NAME: '  ' },
      prefix,
    );
    expect(config.httpPort).toBe(8080);
    expect(config.clusterName).toBeUndefined();
  });

  it('reports every problem at once, by variable name, with a CONFIG error', () => {
    const error = loadError({
      AVIARY_NATS_SERVERS: 'http://nats:4222',
      AVIARY_LOG_LEVEL: 'loud',
      AVIARY_HTTP_PORT: 'eighty',
      AVIARY_SHUTDOWN_TIMEOUT_MS: 'soon',
      AVIARY_PRETTY_LOGS: 'maybe',
    });
    expect(isAviaryError(error, ErrorCode.Config)).toBe(true);
    expect(error.issues).toEqual([
      { path: 'AVIARY_PG_URL', message: 'is required but not set' },
      { path: 'AVIARY_NATS_SERVERS', message: 'must be a nats:// or tls:// URL' },
      {
        path: 'AVIARY_LOG_LEVEL',
        message: 'must be one of fatal, error, warn, info, debug, trace, silent',
      },
      { path: 'AVIARY_HTTP_PORT', message: 'must be a number' },
      {
        path: 'AVIARY_SHUTDOWN_TIMEOUT_MS',
        message: 'must be a duration such as 500ms, 10s, 2m or 1h',
      },
      { path: 'AVIARY_PRETTY_LOGS', message: 'must be true or false (or 1/0, yes/no, on/off)' },
    ]);
    expect(error.message).toBe(
      [
        'invalid configuration (6 problems):',
        '  AVIARY_PG_URL: is required but not set',
        '  AVIARY_NATS_SERVERS: must be a nats:// or tls:// URL',
        '  AVIARY_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
        '  AVIARY_HTTP_PORT: must be a number',
        '  AVIARY_SHUTDOWN_TIMEOUT_MS: must be a duration such as 500ms, 10s, 2m or 1h',
        '  AVIARY_PRETTY_LOGS: must be true or false (or 1/0, yes/no, on/off)',
      ].join('\n'),
    );
  });

  it('says what a wrong URL should look like and never echoes the value', () => {
    const error = loadError({
      AVIARY_PG_URL: 'mysql://root:topsecret@db/x',
      AVIARY_HTTP_PORT: '0',
    });
    expect(error.issues).toEqual([
      { path: 'AVIARY_PG_URL', message: 'must be a postgres:// or postgresql:// URL' },
      { path: 'AVIARY_HTTP_PORT', message: 'must be at least 1' },
    ]);
    expect(error.message).not.toContain('topsecret');
  });

  it('reads process.env with the AVIARY prefix by default', () => {
    const small = z.object({ aviaryConfigProbe: z.string().default('unset') });
    expect(loadConfig(small)).toEqual({ aviaryConfigProbe: 'unset' });
  });
});

describe('envVarName', () => {
  it.each([
    ['pgUrl', 'AVIARY', 'AVIARY_PG_URL'],
    ['natsUrl', 'AVIARY_', 'AVIARY_NATS_URL'],
    ['httpPort', '', 'HTTP_PORT'],
    ['shutdownTimeoutMs', 'AVIARY', 'AVIARY_SHUTDOWN_TIMEOUT_MS'],
    ['datadogAPIKey', 'AVIARY', 'AVIARY_DATADOG_API_KEY'],
  ])('%s with prefix %j → %s', (key, prefixText, expected) => {
    expect(envVarName(key, prefixText)).toBe(expected);
  });

  it('lists the variables of a schema', () => {
    expect(configEnvVarNames(schema, prefix)).toEqual([
      'AVIARY_PG_URL',
      'AVIARY_NATS_SERVERS',
      'AVIARY_LOG_LEVEL',
      'AVIARY_HTTP_PORT',
      'AVIARY_SHUTDOWN_TIMEOUT_MS',
      'AVIARY_PRETTY_LOGS',
      'AVIARY_CLUSTER_NAME',
    ]);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['250', 250],
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1m30s', 90_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', 'soon', '10 s', '-5s', '5x', 's'])('rejects %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});
