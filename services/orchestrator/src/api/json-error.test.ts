import { describe, expect, it } from 'vitest';
import { findJsonSyntaxError } from './json-error.ts';

describe('findJsonSyntaxError', () => {
  it.each([
    '{}',
    '[]',
    ' {"a": [1, -2.5e+3, true, false, null, "x\\u00e9\\n"], "b": {}} ',
    '"text"',
    '0',
    '[[[[]]]]',
  ])('accepts %j like JSON.parse does', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findJsonSyntaxError(text)).toBeUndefined();
  });

  it.each([
    ['', 0, 'expected a value, found the end'],
    ['{"a": }', 6, 'expected a value'],
    ['{"a":1', 6, "expected ',' or '}', found the end"],
    ['{"a" 1}', 5, "expected ':' after the property name"],
    ["{'a': 1}", 1, "expected a property name in double quotes or '}'"],
    ['{"a": 1,}', 8, 'expected a property name in double quotes'],
    ['[1, 2,]', 6, 'expected a value'],
    ['[1 2]', 3, "expected ',' or ']'"],
    ['{"a": 1} x', 9, 'unexpected text after the JSON value'],
    ['"abc', 4, 'unterminated string'],
    ['"a\\x"', 2, 'invalid escape sequence in string'],
    ['"a\tb"', 2, 'control character in string (escape it)'],
    ['-', 0, 'invalid number'],
    ['01', 1, 'unexpected text after the JSON value'],
    ['tru', 0, 'expected a value'],
  ])('finds the error in %j at %d', (text, position, reason) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(findJsonSyntaxError(text)).toMatchObject({ position, reason });
  });

  it('gives the line and column', () => {
    expect(findJsonSyntaxError('{\n  "a": 1,\n  "b" 2\n}')).toEqual({
      position: 18,
      line: 3,
      column: 7,
      reason: "expected ':' after the property name",
    });
  });

  it('handles deep nesting without recursion', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(199_999)}`;
    expect(findJsonSyntaxError(deep)).toMatchObject({
      position: 399_999,
      reason: "expected ',' or ']', found the end",
    });
  });
});
