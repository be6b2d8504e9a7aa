import { AviaryError, ErrorCode, type ValidationIssue } from '@aviary/core';
import { z } from 'zod';
import { LogLevel } from './logger.ts';

/**
 * Configuration from environment variables, validated once at start-up.
 *
 * A service describes its configuration as a flat `z.object` whose camelCase keys name the
 * variables: with the prefix `AVIARY`, `natsUrl` is read from `AVIARY_NATS_URL`. Before validation,
 * an empty variable counts as unset, and values for `z.number()` and `z.boolean()` fields are
 * coerced from text; durations, URLs and log levels have helpers in `configFields`. Every problem
 * is reported at once, by variable name, and values are never echoed (they may be secrets).
 */

export interface LoadConfigOptions {
  /** Variable name prefix, e.g. `AVIARY` (an underscore is added when missing). */
  readonly prefix: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Configuration could not be loaded; `issues` name the variables (`path`) and what is wrong. */
export class ConfigError extends AviaryError {
  override name = 'ConfigError';
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
    super(ErrorCode.Config, `invalid configuration (${count}):\n${lines}`);
    this.issues = issues;
  }
}

/** `natsUrl` with prefix `AVIARY` → `AVIARY_NATS_URL`. */
export function envVarName(key: string, prefix: string): string {
  const snake = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
  if (prefix === '') return snake;
  return prefix.endsWith('_') ? `${prefix}${snake}` : `${prefix}_${snake}`;
}

/** The variables a schema reads, in declaration order (for `--help` texts and docs). */
export function configEnvVarNames(schema: z.ZodObject, options: LoadConfigOptions): string[] {
  return Object.keys(schema.shape).map((key) => envVarName(key, options.prefix));
}

/**
 * Reads, coerces and validates the variables of `schema` from `env`; throws `ConfigError` listing
 * every problem. Variables outside the schema are ignored.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
  options: LoadConfigOptions = { prefix: 'AVIARY' },
): z.output<S> {
  const input: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const unset = new Set<string>();
  for (const [key, field] of Object.entries(schema.shape)) {
    const name = envVarName(key, options.prefix);
    names.set(key, name);
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      unset.add(key);
      continue;
    }
    input[key] = coerce(field as z.ZodType, raw.trim());
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue): ValidationIssue => {
    const key = String(issue.path[0] ?? '');
    const name = names.get(key) ?? key;
    return { path: name, message: describeIssue(issue, unset.has(key)) };
  });
  throw new ConfigError(issues);
}

/** The innermost schema under defaults, optionals and pipes: what the text must become. */
function innerType(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    if (
      current instanceof z.ZodDefault ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodOptional ||
      current instanceof z.ZodNullable
    ) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function coerce(field: z.ZodType, raw: string): unknown {
  const inner = innerType(field);
  if (inner instanceof z.ZodNumber) {
    return /^[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i.test(raw) ? Number(raw) : raw;
  }
  if (inner instanceof z.ZodBoolean) {
    const word = raw.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    return raw;
  }
  return raw;
}

function describeIssue(issue: z.core.$ZodIssue, unset: boolean): string {
  if (unset && issue.code === 'invalid_type') return 'is required but not set';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'number') return 'must be a number';
      if (issue.expected === 'boolean') return 'must be true or false (or 1/0, yes/no, on/off)';
      return `must be a ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    case 'too_big':
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    default:
      return issue.message;
  }
}

/** `500ms`, `10s`, `2m`, `1h`, `1d`, `1m30s`, or a plain number of milliseconds; undefined if not. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
  }
  return Math.round(total);
}

/** Field schemas for configuration values that arrive as text. */
export const configFields = {
  /**
   * A duration in milliseconds, written as `500ms`, `10s`, `2m`, `1h`, `1m30s` or plain
   * milliseconds. Give defaults in milliseconds: `configFields.durationMs().default(10_000)`.
   */
  durationMs(): z.ZodType<number, string | number> {
    return z.union([z.string(), z.number()]).transform((value, ctx) => {
      const ms = typeof value === 'number' ? value : parseDurationMs(value);
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a duration such as 500ms, 10s, 2m or 1h',
        });
        return z.NEVER;
      }
      return ms;
    });
  },

  /** A URL whose scheme is one of `protocols` (written without `:`), e.g. `['postgres', 'postgresql']`. */
  url(protocols: readonly string[]): z.ZodString {
    const schemes = protocols.map((p) => p.replace(/:$/, ''));
    const message = `must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL`;
    return z.string().refine((value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    }, message);
  },

  /** One or more comma-separated URLs, each with one of `protocols` (NATS server lists). */
  urlList(protocols: readonly string[]): z.ZodType<string[], string | string[]> {
    const one = configFields.url(protocols);
    return z
      .union([z.string(), z.array(z.string())])
      .transform((value) =>
        (typeof value === 'string' ? value.split(',') : value)
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      )
      .pipe(z.array(one).min(1));
  },

  /** A pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel(): z.ZodEnum<typeof LogLevel> {
    return z.enum(LogLevel);
  },

  /** A TCP port, 1–65535. */
  port(): z.ZodNumber {
    return z.number().int().min(1).max(65_535);
  },
} as const;

/**
 * The settings every service reads, as zod fields to spread into its configuration schema:
 * `AVIARY_LOG_LEVEL`, `AVIARY_LOG_PRETTY` (readable lines instead of JSON) and
 * `AVIARY_SHUTDOWN_TIMEOUT_MS` (how long a stop may take before the process exits anyway).
 */
export const serviceConfigFields = {
  logLevel: configFields.logLevel().default('info'),
  logPretty: z.boolean().default(false),
  shutdownTimeoutMs: configFields.durationMs().default(10_000),
};
