/**
 * The body each provider type receives for a notification.
 *
 * - `slack`: Flagger's Slack payload: `channel` / `username` (when configured), `icon_emoji`, and
 *   one attachment `{ color, author_name: "<name>.<namespace>", fallback, text, mrkdwn_in, fields }`;
 *   color `good` (info), `warning` (warn), `danger` (error). Flagger only knows good / danger.
 * - `discord`: the same Slack payload, posted to the webhook's Slack-compatible `/slack` endpoint
 *   (as Flagger does; see `deliveryUrl`).
 * - `msteams`: Flagger's legacy `MessageCard` (`themeColor` 0076D7, FFA500 for warn, FF0000 for
 *   error; `summary`; one section with `activityTitle`, `activitySubtitle` and `facts`).
 * - `generic`: Aviary's own JSON: `{ id, event, release, application: {namespace, name},
 *   revision, cluster, wave, severity, reason, message, timestamp }`.
 */
import type { Notification, Severity } from './notification.ts';
import { type AlertProvider, AlertProviderType } from './providers.ts';

export interface Field {
  readonly title: string;
  readonly value: string;
}

/** The facts shown under the message: release, cluster, wave, reason (the non-empty ones). */
export function fieldsOf(n: Notification): Field[] {
  const fields: Field[] = [
    { title: 'Release', value: n.releaseId },
    { title: 'Revision', value: n.revisionId },
    { title: 'Cluster', value: n.cluster },
    { title: 'Wave', value: n.wave },
    { title: 'Reason', value: n.reason },
  ];
  return fields.filter((f) => f.value !== '');
}

const SLACK_COLOR: Readonly<Record<Severity, string>> = {
  info: 'good',
  warn: 'warning',
  error: 'danger',
};

const TEAMS_COLOR: Readonly<Record<Severity, string>> = {
  info: '0076D7',
  warn: 'FFA500',
  error: 'FF0000',
};

/** `<name>.<namespace>`, as Flagger names the canary in its alerts. */
function subject(n: Notification): string {
  return `${n.application.name}.${n.application.namespace}`;
}

export function slackPayload(n: Notification, provider: AlertProvider): Record<string, unknown> {
  return {
    ...(provider.channel === undefined ? {} : { channel: provider.channel }),
    ...(provider.username === undefined ? {} : { username: provider.username }),
    icon_emoji: ':rocket:',
    attachments: [
      {
        color: SLACK_COLOR[n.severity],
        author_name: subject(n),
        fallback: `${subject(n)}: ${n.message}`,
        text: n.message,
        mrkdwn_in: ['text'],
        fields: fieldsOf(n).map((f) => ({ title: f.title, value: f.value, short: false })),
      },
    ],
  };
}

export function teamsPayload(n: Notification): Record<string, unknown> {
  return {
    '@type': 'MessageCard',
    '@context': 'http://schema.org/extensions',
    themeColor: TEAMS_COLOR[n.severity],
    summary: subject(n),
    sections: [
      {
        activityTitle: n.message,
        activitySubtitle: subject(n),
        facts: fieldsOf(n).map((f) => ({ name: f.title, value: f.value })),
      },
    ],
  };
}

export function genericPayload(n: Notification): Record<string, unknown> {
  return {
    id: n.id,
    event: n.event,
    release: n.releaseId,
    application: { namespace: n.application.namespace, name: n.application.name },
    revision: n.revisionId,
    cluster: n.cluster,
    wave: n.wave,
    severity: n.severity,
    reason: n.reason,
    message: n.message,
    timestamp: n.timestamp,
  };
}

/** The JSON body for a provider. */
export function payloadFor(n: Notification, provider: AlertProvider): Record<string, unknown> {
  switch (provider.type) {
    case AlertProviderType.Slack:
    case AlertProviderType.Discord:
      return slackPayload(n, provider);
    case AlertProviderType.MsTeams:
      return teamsPayload(n);
    case AlertProviderType.Generic:
      return genericPayload(n);
  }
}

/** Where to POST: the address, or for Discord its Slack-compatible endpoint `<address>/slack`. */
export function deliveryUrl(provider: AlertProvider): URL {
  const url = new URL(provider.address);
  if (provider.type === AlertProviderType.Discord && !url.pathname.endsWith('/slack')) {
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/slack`;
  }
  return url;
}
