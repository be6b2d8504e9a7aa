/**
 * Where and why a text is not JSON. `JSON.parse` does not always say where it stopped (V8 names
 * the position for some errors only, and quotes the input for others), so a request with
 * malformed JSON is scanned once more by this small validating scanner of RFC 8259, which
 * reports the offset of the first character that cannot continue a JSON text. It keeps its own
 * stack, so deeply nested input cannot overflow the call stack.
 */

export interface JsonSyntaxProblem {
  /** Offset in the text (UTF-16 code units), 0-based. */
  readonly position: number;
  /** 1-based line and column of `position`. */
  readonly line: number;
  readonly column: number;
  /** What was expected there, e.g. `expected ',' or '}'`. */
  readonly reason: string;
}

type Expect = 'value' | 'value-or-]' | 'key' | 'key-or-}' | 'colon' | 'comma-or-close' | 'end';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The first syntax error of `text`, or `undefined` when it is one valid JSON value. */
export function findJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  const stack: ('{' | '[')[] = [];
  let i = 0;
  let expect: Expect = 'value';
  const fail = (position: number, reason: string): JsonSyntaxProblem => {
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < position && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        lineStart = k + 1;
      }
    }
    return { position, line, column: position - lineStart + 1, reason };
  };
  const afterValue = (): Expect => (stack.length === 0 ? 'end' : 'comma-or-close');
  /** Skips a string starting at `i` (a quote); returns a problem or undefined. */
  const skipString = (): JsonSyntaxProblem | undefined => {
    i++;
    for (;;) {
      if (i >= text.length) return fail(i, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 34 /* " */) {
        i++;
        return undefined;
      }
      if (c === 92 /* \ */) {
        const next = text[i + 1];
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === 'u' && HEX4.test(text.slice(i + 2, i + 6))) i += 6;
        else return fail(i, 'invalid escape sequence in string');
      } else if (c < 0x20) {
        return fail(i, 'control character in string (escape it)');
      } else {
        i++;
      }
    }
  };

  for (;;) {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
    if (i >= text.length) {
      return expect === 'end' ? undefined : fail(i, `${describe(expect, stack)}, found the end`);
    }
    const c = text.charAt(i);
    switch (expect) {
      case 'value':
      case 'value-or-]': {
        if (expect === 'value-or-]' && c === ']') {
          stack.pop();
          i++;
          expect = afterValue();
        } else if (c === '{') {
          stack.push('{');
          i++;
          expect = 'key-or-}';
        } else if (c === '[') {
          stack.push('[');
          i++;
          expect = 'value-or-]';
        } else if (c === '"') {
          const problem = skipString();
          if (problem) return problem;
          expect = afterValue();
        } else if (text.startsWith('true', i) || text.startsWith('null', i)) {
          i += 4;
          expect = afterValue();
        } else if (text.startsWith('false', i)) {
          i += 5;
          expect = afterValue();
        } else if (c === '-' || (c >= '0' && c <= '9')) {
          NUMBER.lastIndex = i;
          const match = NUMBER.exec(text);
          if (!match) return fail(i, 'invalid number');
          i += match[0].length;
          expect = afterValue();
        } else {
          return fail(i, describe(expect, stack));
        }
        break;
      }
      case 'key':
      case 'key-or-}': {
        if (expect === 'key-or-}' && c === '}') {
          stack.pop();
          i++;
          expect = afterValue();
        } else if (c === '"') {
          const problem = skipString();
          if (problem) return problem;
          expect = 'colon';
        } else {
          return fail(i, describe(expect, stack));
        }
        break;
      }
      case 'colon':
        if (c !== ':') return fail(i, describe(expect, stack));
        i++;
        expect = 'value';
        break;
      case 'comma-or-close': {
        const open = stack[stack.length - 1];
        const close = open === '{' ? '}' : ']';
        if (c === ',') {
          i++;
          expect = open === '{' ? 'key' : 'value';
        } else if (c === close) {
          stack.pop();
          i++;
          expect = afterValue();
        } else {
          return fail(i, describe(expect, stack));
        }
        break;
      }
      case 'end':
        return fail(i, describe(expect, stack));
    }
  }
}

function describe(expect: Expect, stack: readonly ('{' | '[')[]): string {
  switch (expect) {
    case 'value':
      return 'expected a value';
    case 'value-or-]':
      return "expected a value or ']'";
    case 'key':
      return 'expected a property name in double quotes';
    case 'key-or-}':
      return "expected a property name in double quotes or '}'";
    case 'colon':
      return "expected ':' after the property name";
    case 'comma-or-close':
      return `expected ',' or '${stack[stack.length - 1] === '{' ? '}' : ']'}'`;
    case 'end':
      return 'unexpected text after the JSON value';
  }
}
