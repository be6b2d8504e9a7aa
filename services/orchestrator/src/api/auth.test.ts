import { ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, parseApiTokens, roleAtLeast } from './auth.ts';

function issuesOf(input: Parameters<typeof parseApiTokens>[0]): ValidationError['issues'] {
  try {
    parseApiTokens(input);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('parseApiTokens', () => {
  it('reads name:role:token entries; the token may contain colons', () => {
    expect(
      parseApiTokens(
        ' ci:operator:0123456789abcdef , dash:viewer:a:b:c:d:e:f:g:h:i:j ,root:admin:ABCDEFGHIJKLMNOP',
      ),
    ).toEqual([
      { name: 'ci', role: 'operator', token: '0123456789abcdef' },
      { name: 'dash', role: 'viewer', token: 'a:b:c:d:e:f:g:h:i:j' },
      { name: 'root', role: 'admin', token: 'ABCDEFGHIJKLMNOP' },
    ]);
  });

  it('validates a list the same way', () => {
    expect(parseApiTokens([{ name: 'ci', role: 'viewer', token: 'x'.repeat(16) }])).toEqual([
      { name: 'ci', role: 'viewer', token: 'x'.repeat(16) },
    ]);
  });

  it('reports every problem, by entry, and never the token', () => {
    const secret = 'short-secret';
    const issues = issuesOf(
      `ci:operator:${secret},ci:viewer:0123456789abcdef,x:root:abcdef0123456789,broken,Bad Name:viewer:fedcba9876543210,y:viewer:0123456789abcdef`,
    );
    expect(issues).toEqual([
      { path: '[3]', message: 'must be name:role:token' },
      { path: '[0].token', message: 'must be at least 16 characters long' },
      { path: '[1].name', message: '"ci" is used by more than one token' },
      { path: '[2].role', message: 'must be one of viewer, operator, admin (got "root")' },
      {
        path: '[4].name',
        message:
          "must be 1 to 63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit (got \"Bad Name\")",
      },
      { path: '[5].token', message: 'is the same as an earlier entry’s token' },
    ]);
    expect(JSON.stringify(issues)).not.toContain(secret);
    expect(JSON.stringify(issues)).not.toContain('0123456789abcdef');
  });

  it('rejects an empty configuration and tokens with spaces', () => {
    expect(issuesOf('')).toEqual([
      { path: '', message: 'no token configured (expected name:role:token,…)' },
    ]);
    expect(issuesOf([])).toEqual([{ path: '', message: 'no token configured' }]);
    expect(issuesOf([{ name: 'a', role: 'viewer', token: 'has a space in it!' }])).toEqual([
      { path: '[0].token', message: 'must be printable ASCII without spaces' },
    ]);
  });
});

describe('roleAtLeast', () => {
  it('orders viewer < operator < admin', () => {
    expect(roleAtLeast('viewer', 'viewer')).toBe(true);
    expect(roleAtLeast('viewer', 'operator')).toBe(false);
    expect(roleAtLeast('operator', 'viewer')).toBe(true);
    expect(roleAtLeast('operator', 'admin')).toBe(false);
    expect(roleAtLeast('admin', 'operator')).toBe(true);
  });
});

describe('createAuthenticator', () => {
  const auth = createAuthenticator([
    { name: 'vera', role: 'viewer', token: 'viewer-token-0123456789' },
    { name: 'otto', role: 'operator', token: 'operator-token-0123456789' },
  ]);

  it('finds the holder of a token, whatever its position in the list', () => {
    expect(auth.authenticate('Bearer viewer-token-0123456789')).toEqual({
      ok: true,
      actor: { name: 'vera', role: 'viewer' },
    });
    expect(auth.authenticate('bearer   operator-token-0123456789 ')).toEqual({
      ok: true,
      actor: { name: 'otto', role: 'operator' },
    });
  });

  it.each([
    ['no header', undefined, 'missing'],
    ['an empty header', '', 'missing'],
    ['Bearer alone', 'Bearer', 'malformed'],
    ['another scheme', 'Token viewer-token-0123456789', 'malformed'],
    ['two words', 'Bearer viewer-token-0123456789 extra', 'malformed'],
    ['a prefix of a token', 'Bearer viewer-token-012345678', 'unknown'],
    ['a token with one more character', 'Bearer viewer-token-01234567890', 'unknown'],
    ['a short token', 'Bearer x', 'unknown'],
    ['a 10 000 character token', `Bearer ${'y'.repeat(10_000)}`, 'unknown'],
  ])('refuses %s as %s', (_, header, reason) => {
    expect(auth.authenticate(header)).toEqual({ ok: false, reason });
  });
});
