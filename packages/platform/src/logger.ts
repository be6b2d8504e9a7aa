import { Writable } from 'node:stream';
import { type DestinationStream, type Logger, pino } from 'pino';
import { currentLogFields } from './log-context.ts';
import { redactUrlsInText } from './redact-url.ts';
import { activeTraceIds } from './telemetry.ts';

export type { Logger } from 'pino';

export const LogLevel = {
  Fatal: 'fatal',
  Error: 'error',
  Warn: 'warn',
  Info: 'info',
  Debug: 'debug',
  Trace: 'trace',
  Silent: 'silent',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
export const LOG_LEVELS: readonly LogLevel[] = Object.values(LogLevel);

export interface LoggerOptions {
  /** Written as `service` on every line. */
  readonly service: string;
  readonly level: LogLevel;
  /** One human-readable line per entry instead of JSON (for a terminal; never in production). */
  readonly pretty?: boolean;
  /** Where lines go; standard output (synchronously, so nothing is lost at exit) by default. */
  readonly destination?: DestinationStream;
  /** More fields written on every line, e.g. `{ cluster: 'eu-1' }`. */
  readonly base?: Readonly<Record<string, unknown>>;
}

/** Written in place of every redacted value. */
export const REDACTED = '[redacted]';

/**
 * Keys whose values never reach a log line, matched at the top level and up to three objects deep
 * (`password`, `config.password`, `req.headers.authorization`, `a.b.c.password`). pino's redaction
 * matches fixed paths, so a secret nested deeper than that is not caught by its key: log such
 * objects through a narrower view. Header names are lower case, as Node delivers them.
 */
export const SECRET_KEYS: readonly string[] = [
  'password',
  'pass',
  'passwd',
  'secret',
  'clientSecret',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'appKey',
  'privateKey',
  'credentials',
  'authorization',
  'Authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'dd-api-key',
  'dd-application-key',
  'webhookSecret',
  'signingSecret',
  'alertProviders',
  'apiTokens',
  'tokens',
];

const MAX_REDACT_DEPTH = 3;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) {
    const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    for (let depth = 0; depth <= MAX_REDACT_DEPTH; depth += 1) {
      const prefix = Array.from({ length: depth }, () => '*').join('.');
      if (prefix === '') paths.push(segment);
      else paths.push(segment.startsWith('[') ? `${prefix}${segment}` : `${prefix}.${segment}`);
    }
  }
  return paths;
}

/**
 * A pino logger writing JSON lines with `service` on each, secrets redacted by key (see
 * `SECRET_KEYS`) and passwords masked in any `scheme://user:password@host` text of the line,
 * messages and error stacks included. A line carries the correlation ids of the work it is
 * written in (`withLogFields`: `releaseId`, `cluster`, `commandId`, `requestId`) and, while
 * tracing is on, the active span's `traceId` and `spanId`, so logs and traces join.
 */
export function createLogger(options: LoggerOptions): Logger {
  const sink = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level,
      base: { service: options.service, ...options.base },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      redact: { paths: redactPaths(), censor: REDACTED },
      hooks: { streamWrite: redactUrlsInText },
      mixin: traceFields,
      // Without trace ids (tracing off, no span) the line's own object is written as it is.
      mixinMergeStrategy: (fields, trace) =>
        trace === NO_FIELDS ? fields : { ...trace, ...(fields as object) },
    },
    options.pretty === true ? prettyStream(sink) : sink,
  );
}

const NO_FIELDS = Object.freeze({});

function traceFields(): object {
  const fields = currentLogFields();
  const ids = activeTraceIds();
  if (ids === undefined) return fields ?? NO_FIELDS;
  return fields === undefined ? ids : { ...fields, ...ids };
}

const PRETTY_SKIP = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname']);

/** Turns each JSON line into `12:00:00.123 INFO  service: message {fields}`. */
function prettyStream(target: DestinationStream): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      pending += chunk.toString();
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        target.write(`${prettyLine(pending.slice(0, newline))}\n`);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      callback();
    },
  });
}

function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '')
    .toUpperCase()
    .padEnd(5);
  const rest = Object.fromEntries(Object.entries(entry).filter(([k]) => !PRETTY_SKIP.has(k)));
  const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `${time} ${level} ${String(entry.service ?? '')}: ${String(entry.msg ?? '')}${fields}`;
}
