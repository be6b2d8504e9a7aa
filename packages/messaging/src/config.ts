import { configFields, z } from '@aviary/platform';
import type { ConnectNatsOptions } from './connection.ts';
import { isValidNamespaceName } from './subjects.ts';

/**
 * The NATS settings every service reads, as zod fields to spread into its configuration schema:
 * `AVIARY_NATS_URL` (one server or several, comma-separated), `AVIARY_NATS_USER`,
 * `AVIARY_NATS_PASS`, `AVIARY_NATS_TOKEN`, and `AVIARY_MESSAGING_NAMESPACE` (replaces the
 * `aviary` subject root and stream prefix: tests, shared servers).
 */
export const natsConfigFields = {
  natsUrl: configFields.urlList(['nats', 'tls']).default(['nats://127.0.0.1:4222']),
  natsUser: z.string().optional(),
  natsPass: z.string().optional(),
  natsToken: z.string().optional(),
  messagingNamespace: z
    .string()
    .refine(isValidNamespaceName, "must be 1-64 lowercase letters, digits, '_' or '-'")
    .default('aviary'),
};

export interface NatsConfig {
  readonly natsUrl: readonly string[];
  readonly natsUser?: string | undefined;
  readonly natsPass?: string | undefined;
  readonly natsToken?: string | undefined;
}

/** The connection options a service's NATS settings give (credentials only when set). */
export function natsConnectOptions(
  config: NatsConfig,
): Pick<ConnectNatsOptions, 'servers' | 'user' | 'pass' | 'token'> {
  return {
    servers: config.natsUrl,
    ...(config.natsUser === undefined ? {} : { user: config.natsUser }),
    ...(config.natsPass === undefined ? {} : { pass: config.natsPass }),
    ...(config.natsToken === undefined ? {} : { token: config.natsToken }),
  };
}
