import { ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { AlertProviderRegistry, parseAlertProviders } from './providers.ts';

const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET';

function issuesOf(json: string): string[] {
  try {
    parseAlertProviders(json);
  } catch (error) {
    if (error instanceof ValidationError) {
      // The message never repeats an address.
      expect(error.message).not.toContain('XXXXSECRET');
      return error.issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('parseAlertProviders', () => {
  it('reads a valid list, and nothing from blank text', () => {
    expect(
      parseAlertProviders(
        JSON.stringify([
          { name: 'on-call', namespace: 'shop', type: 'slack', address: SLACK, channel: '#rel' },
          { name: 'teams', type: 'msteams', address: 'https://example.webhook.office.com/x' },
        ]),
      ),
    ).toEqual([
      { name: 'on-call', namespace: 'shop', type: 'slack', address: SLACK, channel: '#rel' },
      { name: 'teams', type: 'msteams', address: 'https://example.webhook.office.com/x' },
    ]);
    expect(parseAlertProviders('  ')).toEqual([]);
  });

  it('lists every problem by path, without the address', () => {
    expect(
      issuesOf(
        JSON.stringify([
          { name: 'Bad Name', type: 'pagerduty', address: 'ftp://x/XXXXSECRET' },
          { name: 'ok', type: 'slack', address: 'not a url XXXXSECRET', extra: 1 },
        ]),
      ),
    ).toEqual([
      '[0].name: must be a DNS subdomain (lower-case letters, digits, "-" and ".")',
      '[0].type: must be one of slack, msteams, discord, generic',
      '[0].address: must be an absolute http or https URL (value not shown: it is a secret)',
      '[1].address: must be an absolute http or https URL (value not shown: it is a secret)',
      '[1]: Unrecognized key: "extra"',
    ]);
  });

  it('refuses duplicates per namespace, non-arrays and invalid JSON (without quoting it)', () => {
    expect(
      issuesOf(
        JSON.stringify([
          { name: 'a', type: 'slack', address: SLACK },
          { name: 'a', namespace: 'x', type: 'slack', address: SLACK },
          { name: 'a', type: 'generic', address: SLACK },
        ]),
      ),
    ).toEqual(['[2].name: duplicate provider a (also [0])']);
    expect(issuesOf('{"name":"a"}')).toEqual([': must be a JSON array']);
    expect(issuesOf(`[{"address":"${SLACK}",]`)).toEqual([': is not valid JSON']);
  });
});

describe('AlertProviderRegistry', () => {
  it('finds the namespaced provider first, then the fleet-wide one of that name', () => {
    const registry = new AlertProviderRegistry([
      { name: 'chat', type: 'slack', address: 'https://a.example/1' },
      { name: 'chat', namespace: 'shop', type: 'slack', address: 'https://a.example/2' },
    ]);
    expect(registry.find({ name: 'chat', namespace: 'shop' })?.address).toBe('https://a.example/2');
    expect(registry.find({ name: 'chat', namespace: 'other' })?.address).toBe(
      'https://a.example/1',
    );
    expect(registry.find({ name: 'nope', namespace: 'shop' })).toBeUndefined();
    expect(registry.byKey('shop/chat')?.address).toBe('https://a.example/2');
  });
});
