/**
 * Alert providers (Flagger's `AlertProvider`): where notifications go. Configured as a JSON array
 * (`AVIARY_ALERT_PROVIDERS`):
 *
 * ```json
 * [{ "name": "on-call", "namespace": "shop", "type": "slack",
 *    "address": "https://hooks.slack.com/services/…", "channel": "#releases", "username": "aviary" }]
 * ```
 *
 * `type` is `slack`, `msteams`, `discord` or `generic`; `address` is the incoming-webhook URL
 * (http or https). A Rollout's `analysis.alerts[].providerRef {name, namespace}` names a provider:
 * the one with that name in that namespace, else the one with that name and no namespace (a
 * fleet-wide provider). Addresses carry tokens: they are never logged, and never repeated in
 * validation messages.
 */
import { ValidationError, type ValidationIssue } from '@aviary/core';
import { z } from '@aviary/platform';

export const AlertProviderType = {
  Slack: 'slack',
  MsTeams: 'msteams',
  Discord: 'discord',
  Generic: 'generic',
} as const;
export type AlertProviderType = (typeof AlertProviderType)[keyof typeof AlertProviderType];

export interface AlertProvider {
  readonly name: string;
  /** Absent: a fleet-wide provider, found by name from any namespace. */
  readonly namespace?: string;
  readonly type: AlertProviderType;
  /** The webhook URL: a secret. */
  readonly address: string;
  /** Slack / Discord channel override. */
  readonly channel?: string;
  /** Slack / Discord user name override. */
  readonly username?: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const providerSchema = z
  .object({
    name: z
      .string()
      .regex(DNS_SUBDOMAIN, 'must be a DNS subdomain (lower-case letters, digits, "-" and ".")'),
    namespace: z
      .string()
      .regex(DNS_LABEL, 'must be a DNS label (lower-case letters, digits and "-")')
      .optional(),
    type: z.enum(Object.values(AlertProviderType) as [AlertProviderType, ...AlertProviderType[]], {
      error: `must be one of ${Object.values(AlertProviderType).join(', ')}`,
    }),
    // Checked without ever repeating the value: it holds the webhook's token.
    address: z.string({ error: 'must be a string' }).refine(isHttpUrl, {
      error: 'must be an absolute http or https URL (value not shown: it is a secret)',
    }),
    channel: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
  })
  .strict();

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/** `namespace/name`, or `name` for a fleet-wide provider. */
export function providerKey(ref: { readonly name: string; readonly namespace?: string }): string {
  return ref.namespace === undefined || ref.namespace === ''
    ? ref.name
    : `${ref.namespace}/${ref.name}`;
}

/**
 * Parses and validates the providers' JSON array (empty or blank text: none). Throws a
 * `ValidationError` listing every problem by path, e.g. `[1].type: must be one of …`; keys must
 * be unique per namespace.
 */
export function parseAlertProviders(
  json: string,
  what = 'AVIARY_ALERT_PROVIDERS',
): AlertProvider[] {
  if (json.trim() === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    // The parser's message quotes the text around the error, which may be an address.
    throw new ValidationError(what, [{ path: '', message: 'is not valid JSON' }]);
  }
  const parsed = z.array(providerSchema).safeParse(raw);
  if (!parsed.success) {
    const issues: ValidationIssue[] = parsed.error.issues.map((issue) => ({
      path: formatPath(issue.path),
      message:
        issue.code === 'invalid_type' && issue.path.length === 0
          ? 'must be a JSON array'
          : issue.message,
    }));
    throw new ValidationError(what, issues);
  }
  const providers: AlertProvider[] = parsed.data.map((p) => ({
    name: p.name,
    ...(p.namespace === undefined ? {} : { namespace: p.namespace }),
    type: p.type,
    address: p.address,
    ...(p.channel === undefined ? {} : { channel: p.channel }),
    ...(p.username === undefined ? {} : { username: p.username }),
  }));
  const seen = new Map<string, number>();
  const duplicates: ValidationIssue[] = [];
  providers.forEach((p, i) => {
    const key = providerKey(p);
    const first = seen.get(key);
    if (first !== undefined) {
      duplicates.push({
        path: `[${i}].name`,
        message: `duplicate provider ${key} (also [${first}])`,
      });
    } else {
      seen.set(key, i);
    }
  });
  if (duplicates.length > 0) throw new ValidationError(what, duplicates);
  return providers;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, i) =>
      typeof segment === 'number' ? `[${segment}]` : `${i === 0 ? '' : '.'}${String(segment)}`,
    )
    .join('');
}

/** Finds providers by reference: exact namespace first, then a fleet-wide one of that name. */
export class AlertProviderRegistry {
  readonly #byKey: ReadonlyMap<string, AlertProvider>;

  constructor(providers: readonly AlertProvider[]) {
    this.#byKey = new Map(providers.map((p) => [providerKey(p), p]));
  }

  find(ref: { readonly name: string; readonly namespace?: string }): AlertProvider | undefined {
    return this.#byKey.get(providerKey(ref)) ?? this.#byKey.get(ref.name);
  }

  /** By `name` (fleet-wide) or `namespace/name` (exact). */
  byKey(key: string): AlertProvider | undefined {
    return this.#byKey.get(key);
  }
}
