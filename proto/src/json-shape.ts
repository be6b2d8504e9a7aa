import type { ValidationIssue } from '@aviary/core';
import { type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { base64Decode } from '@bufbuild/protobuf/wire';

/**
 * Checks that a value is the canonical protobuf JSON of a message, without decoding it.
 *
 * `compileJsonShape(desc)` walks the descriptor once: it generates one JavaScript function per
 * message type (with `new Function`, from the descriptor only, so a process started with
 * `--disallow-code-generation-from-strings` cannot use it) around closures that hold the rules for
 * scalars, enums and well-known types. A call does no reflection, builds no message and, for a
 * valid value, allocates only its result and a path stack. It is the read side of the event log,
 * where replay must fold hundreds of thousands of events a second and `fromJson` is too slow.
 *
 * Acceptance is the same as `fromJson(desc, value)` with default options (the property the tests
 * pin): JSON names and proto field names as keys, scalars also in the string forms fromJson
 * reads (`"12"` for an int32, `"NaN"` for a double), enum values by name or number, `null` where
 * fromJson reads it as the default, the JSON forms of the well-known types, fromJson's recursion
 * limit. Two deliberate differences, neither reachable from `JSON.parse` output: objects must be
 * plain (a `Date` or a `Map` is rejected, fromJson would read its own enumerable keys), and keys
 * are read with `for…in` (enumerable keys inherited from a polluted `Object.prototype` count).
 *
 * Every problem is reported, each with its path in the value (`routes.matches[2].headers["x-id"]`,
 * JSON keys as written, `[i]` for list items, map keys that are not identifiers in brackets).
 */
export type JsonShapeCheck = (value: unknown) => ValidationIssue[];

export function compileJsonShape(desc: DescMessage): JsonShapeCheck {
  const check = messageCheck(desc);
  return (value) => {
    const ctx: Ctx = { issues: [], path: [] };
    const problem = check(value, ctx, 0);
    if (problem !== undefined) ctx.issues.push({ path: '', message: problem });
    return ctx.issues;
  };
}

/** fromJson's default `recursionLimit`: nesting depth of messages (and of google.protobuf.Value). */
const RECURSION_LIMIT = 100;

interface Ctx {
  readonly issues: ValidationIssue[];
  /** Keys and indexes from the root to the value being checked. */
  readonly path: (string | number)[];
}

/**
 * Checks one value. Problems inside it (a field of a message, an item of a list) are reported to
 * `ctx` by the check itself; a problem with the value as a whole is returned, for the caller to
 * report at the value's own path. `depth` is the message nesting depth of the caller.
 */
type Check = (value: unknown, ctx: Ctx, depth: number) => string | undefined;

/** A check of a value that contains no other values (a scalar, an enum, a Timestamp…). */
type LeafCheck = (value: unknown) => string | undefined;

// ---------------------------------------------------------------------------------------------
// Messages: one generated function per message type
//
// Why generated code: V8 keeps type feedback per function literal, so closures made from one
// generic message loop share it, see every message shape at the same property accesses and call
// sites, and stay megamorphic (slow). A function generated for each message type (a `switch` over
// its JSON keys with each field's check written out) is monomorphic. The generated code only
// recognises the common valid values inline (a string that is a string, a uint32 that is one);
// every other value goes to the closures of the sections below, which hold the actual rules.
// Nothing in the generated source comes from the value checked: only from the descriptor, with
// every name written as a JSON string literal.

const compiled = new WeakMap<DescMessage, Check>();
/** Messages whose check is being generated: a recursive reference calls through the slot. */
const generating = new Map<DescMessage, { check: Check | undefined }>();

function messageCheck(desc: DescMessage): Check {
  const known = compiled.get(desc);
  if (known !== undefined) return known;
  const wkt = wellKnownCheck(desc);
  if (wkt !== undefined) {
    compiled.set(desc, wkt);
    return wkt;
  }
  const pending = generating.get(desc);
  if (pending !== undefined) {
    return (value, ctx, depth) => (pending.check as Check)(value, ctx, depth);
  }
  const slot: { check: Check | undefined } = { check: undefined };
  generating.set(desc, slot);
  try {
    slot.check = generateMessageCheck(desc);
  } finally {
    generating.delete(desc);
  }
  compiled.set(desc, slot.check);
  return slot.check;
}

/** What generated code calls; bound once, so every call site sees one function. */
const helpers = {
  report,
  expected,
  tooDeep,
  isPlainObject,
  isShortInt64,
  isShortUint64,
};

/** Values referenced by generated code, as `b0`, `b1`… */
class Bindings {
  readonly values: unknown[] = [];
  bind(value: unknown): string {
    let i = this.values.indexOf(value);
    if (i < 0) i = this.values.push(value) - 1;
    return `b${i}`;
  }
  declarations(): string {
    return this.values.map((_, i) => `const b${i} = B[${i}];`).join('\n');
  }
}

const lit = (s: string) => JSON.stringify(s);

/**
 * The generated function, for a message with a string field `name` and a oneof `kind`:
 *
 *     function check_pkg_Msg(v, ctx, depth) {
 *       const d = depth + 1;
 *       if (d > 100) return H.tooDeep();
 *       if (!H.isPlainObject(v)) return H.expected("object", v);
 *       let o0;
 *       for (const k in v) {
 *         const x = v[k];
 *         switch (k) {
 *           case "name": {
 *             if (x !== null) { if (!(typeof x === "string" && x.isWellFormed())) { …b0(x)… } }
 *             break;
 *           }
 *           …
 *           default: H.report(ctx, k, "unknown field of pkg.Msg");
 *         }
 *       }
 *       return undefined;
 *     }
 */
function generateMessageCheck(desc: DescMessage): Check {
  const b = new Bindings();
  const cases: string[] = [];
  for (const field of desc.fields) {
    const body = fieldCode(field, desc, b);
    cases.push(`case ${lit(field.jsonName)}: {\n${body}\nbreak;\n}`);
    if (field.name !== field.jsonName) {
      const twice = `set twice, as "${field.name}" and "${field.jsonName}"`;
      cases.push(
        `case ${lit(field.name)}: {\n` +
          `if (Object.hasOwn(v, ${lit(field.jsonName)})) H.report(ctx, k, ${lit(twice)});\n` +
          `${body}\nbreak;\n}`,
      );
    }
  }
  const name = `check_${desc.typeName.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const source = `"use strict";
${b.declarations()}
return function ${name}(v, ctx, depth) {
const d = depth + 1;
if (d > ${RECURSION_LIMIT}) return H.tooDeep();
if (!H.isPlainObject(v)) return H.expected("object", v);
${desc.oneofs.map((_, i) => `let o${i};`).join('\n')}
for (const k in v) {
const x = v[k];
switch (k) {
${cases.join('\n')}
default:
H.report(ctx, k, ${lit(`unknown field of ${desc.typeName}`)});
}
}
return undefined;
};`;
  const factory = new Function('B', 'H', source) as (b: unknown[], h: typeof helpers) => Check;
  return factory(b.values, helpers);
}

/** The statements checking the value `x` of `field`, present under key `k` of object `v`. */
function fieldCode(field: DescField, message: DescMessage, b: Bindings): string {
  let oneof = '';
  if (field.oneof !== undefined) {
    const i = message.oneofs.indexOf(field.oneof);
    const already = `oneof ${field.oneof.name} is already set by "`;
    // A null scalar member is skipped; a null message or enum member still sets its oneof.
    oneof =
      `if (${field.fieldKind === 'scalar' ? 'x !== null' : 'true'}) {\n` +
      `if (o${i} !== undefined) H.report(ctx, k, ${lit(already)} + o${i} + '": set one member only');\n` +
      `else o${i} = k;\n}\n`;
  }
  // null resets a field to its default, whatever its kind.
  return `${oneof}if (x !== null) {\n${valueCode(field, b)}\n}`;
}

function valueCode(field: DescField, b: Bindings): string {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarCode(field.scalar, 'x', 'k', b);
    case 'enum':
      return enumCode(field.enum, 'x', 'k', b);
    case 'message':
      return messageCode(field.message, 'x', 'k', b);
    case 'list': {
      const item = elementCode(field, 'y', 'i', b);
      return `if (!Array.isArray(x)) H.report(ctx, k, H.expected("array", x));
else {
ctx.path.push(k);
for (let i = 0; i < x.length; i++) {
const y = x[i];
if (y === null) {${item.nullable ? '' : ' H.report(ctx, i, "list item must not be null"); '}}
else {\n${item.code}\n}
}
ctx.path.pop();
}`;
    }
    case 'map': {
      const value = elementCode(field, 'y', 'mk', b);
      const key = mapKeyCheck(field.mapKey);
      const keyFast = field.mapKey === ScalarType.STRING ? 'mk.isWellFormed()' : 'false';
      const canonical = key.canonical === undefined ? undefined : b.bind(key.canonical);
      return `if (!H.isPlainObject(x)) H.report(ctx, k, H.expected("object", x));
else {
ctx.path.push(k);
${canonical === undefined ? '' : 'const seen = new Set();'}
for (const mk in x) {
if (!(${keyFast})) { const e = ${b.bind(key.check)}(mk); if (e !== undefined) H.report(ctx, mk, "invalid map key: " + e); }
${canonical === undefined ? '' : `{ const c = ${canonical}(mk); if (seen.has(c)) H.report(ctx, mk, "duplicate map key"); seen.add(c); }`}
const y = x[mk];
if (y === null) {${value.nullable ? '' : ' H.report(ctx, mk, "map value must not be null"); '}}
else {\n${value.code}\n}
}
ctx.path.pop();
}`;
    }
  }
}

type ListField = Extract<DescField, { fieldKind: 'list' }>;
type MapField = Extract<DescField, { fieldKind: 'map' }>;

/**
 * The check of a list item or a map value `y` under key `key`, and whether `null` is a valid one:
 * only for google.protobuf.Value and google.protobuf.NullValue, which read null as a value.
 */
function elementCode(
  field: ListField | MapField,
  y: string,
  key: string,
  b: Bindings,
): { code: string; nullable: boolean } {
  const kind = field.fieldKind === 'list' ? field.listKind : field.mapKind;
  switch (kind) {
    case 'scalar':
      return { code: scalarCode(field.scalar as ScalarType, y, key, b), nullable: false };
    case 'enum': {
      const e = field.enum as DescEnum;
      return { code: enumCode(e, y, key, b), nullable: e.typeName === NULL_VALUE };
    }
    case 'message': {
      const m = field.message as DescMessage;
      return { code: messageCode(m, y, key, b), nullable: m.typeName === VALUE };
    }
  }
}

/** Statements reporting the problem `check` finds with `x` unless `fast` already accepts it. */
function leafCode(fast: string, check: string, x: string, key: string): string {
  const report = `{ const e = ${check}(${x}); if (e !== undefined) H.report(ctx, ${key}, e); }`;
  return fast === 'false' ? report : `if (!(${fast})) ${report}`;
}

/** A condition under which a JSON value `x` is certainly a valid scalar of the type. */
function scalarFast(type: ScalarType, x: string): string {
  switch (type) {
    case ScalarType.STRING:
      return `typeof ${x} === "string" && ${x}.isWellFormed()`;
    case ScalarType.BOOL:
      return `typeof ${x} === "boolean"`;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return `typeof ${x} === "number" && (${x} | 0) === ${x}`;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return `typeof ${x} === "number" && ${x} >>> 0 === ${x}`;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return `typeof ${x} === "string" && H.isShortInt64(${x})`;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return `typeof ${x} === "string" && H.isShortUint64(${x})`;
    case ScalarType.DOUBLE:
      return `typeof ${x} === "number" && ${x} - ${x} === 0`;
    case ScalarType.FLOAT:
      return `typeof ${x} === "number" && ${x} <= ${FLOAT_MAX} && ${x} >= -${FLOAT_MAX}`;
    case ScalarType.BYTES:
      return 'false';
  }
}

function scalarCode(type: ScalarType, x: string, key: string, b: Bindings): string {
  return leafCode(scalarFast(type, x), b.bind(scalarCheck(type)), x, key);
}

function enumCode(desc: DescEnum, x: string, key: string, b: Bindings): string {
  const check = enumCheck(desc);
  const fast = `typeof ${x} === "string" && ${b.bind(enumNames(desc))}.has(${x})`;
  return leafCode(fast, b.bind(check), x, key);
}

function messageCode(desc: DescMessage, x: string, key: string, b: Bindings): string {
  const check = b.bind(messageCheck(desc));
  const call = `const e = ${check}(${x}, ctx, d);`;
  if (reportsInside(desc)) {
    return `{ ctx.path.push(${key}); ${call} ctx.path.pop(); if (e !== undefined) H.report(ctx, ${key}, e); }`;
  }
  return `{ ${call} if (e !== undefined) H.report(ctx, ${key}, e); }`;
}

/** Whether problems can be found inside a value of the message (not so for Timestamp…). */
function reportsInside(desc: DescMessage): boolean {
  return !SINGLE_VALUE_WKTS.has(desc.typeName) && !WRAPPERS.has(desc.typeName);
}

interface MapKeyCheck {
  readonly check: (key: string) => string | undefined;
  /** Maps a JSON key to the map key it denotes, when several JSON keys can denote one. */
  readonly canonical: ((key: string) => unknown) | undefined;
}

function mapKeyCheck(type: ScalarType): MapKeyCheck {
  switch (type) {
    case ScalarType.BOOL:
      return {
        check: (k) => (k === 'true' || k === 'false' ? undefined : 'expected "true" or "false"'),
        canonical: undefined,
      };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { check: scalarCheck(type), canonical: (k) => numberFromString(k) ?? k };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const check = scalarCheck(type);
      const canonical = (k: string) => (/^-?0+$/.test(k) ? '0' : k.replace(/^(-?)0+(?=\d)/, '$1'));
      return { check: (k) => check(canonical(k)), canonical };
    }
    default:
      // STRING (protobuf allows no other key types).
      return { check: scalarCheck(ScalarType.STRING), canonical: undefined };
  }
}

// ---------------------------------------------------------------------------------------------
// Scalars and enums

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** The largest float32; a number no larger in magnitude is certainly a float. */
const FLOAT_MAX = 3.4028234663852886e38;

const scalarChecks = new Map<ScalarType, LeafCheck>();

function scalarCheck(type: ScalarType): LeafCheck {
  let check = scalarChecks.get(type);
  if (check === undefined) {
    check = makeScalarCheck(type);
    scalarChecks.set(type, check);
  }
  return check;
}

function makeScalarCheck(type: ScalarType): LeafCheck {
  switch (type) {
    case ScalarType.STRING:
      return (v) =>
        typeof v === 'string'
          ? v.isWellFormed()
            ? undefined
            : 'invalid UTF-16 (lone surrogate)'
          : expected('string', v);
    case ScalarType.BOOL:
      return (v) => (typeof v === 'boolean' ? undefined : expected('boolean', v));
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return integerCheck('int32', INT32_MIN, INT32_MAX);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return integerCheck('uint32', 0, UINT32_MAX);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return bigIntegerCheck('int64', INT64_MIN, INT64_MAX, isShortInt64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return bigIntegerCheck('uint64', 0n, UINT64_MAX, isShortUint64);
    case ScalarType.DOUBLE:
      return floatCheck('double', false);
    case ScalarType.FLOAT:
      return floatCheck('float', true);
    case ScalarType.BYTES:
      return (v) => {
        if (typeof v !== 'string') return expected('base64 string', v);
        if (v === '') return undefined;
        try {
          base64Decode(v);
          return undefined;
        } catch {
          return 'invalid base64 string';
        }
      };
  }
}

/** A number read from a string as fromJson reads numeric strings, or undefined if it is none. */
function numberFromString(s: string): number | undefined {
  if (s === '' || s.trim().length !== s.length) return undefined;
  const n = Number(s);
  return Number.isNaN(n) ? undefined : n;
}

function integerCheck(name: string, min: number, max: number): LeafCheck {
  return (v) => {
    const n = typeof v === 'string' ? numberFromString(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) return expected(name, v);
    return n < min || n > max ? `${name} out of range: ${n}` : undefined;
  };
}

/** 64-bit integers: decimal strings (canonical) or numbers, anything `BigInt()` reads in range. */
function bigIntegerCheck(
  name: string,
  min: bigint,
  max: bigint,
  isShort: (s: string) => boolean,
): LeafCheck {
  return (v) => {
    if (typeof v === 'string') {
      if (isShort(v)) return undefined;
      if (v === '') return expected(name, v);
    } else if (typeof v !== 'number') {
      return expected(name, v);
    }
    let n: bigint;
    try {
      n = BigInt(v);
    } catch {
      return expected(name, v);
    }
    return n < min || n > max ? `${name} out of range: ${v}` : undefined;
  };
}

/** A decimal string of 1 to 18 digits, with an optional minus: certainly an int64. */
function isShortInt64(s: string): boolean {
  const from = s.charCodeAt(0) === 0x2d /* - */ ? 1 : 0;
  return s.length - from <= 18 && isDigits(s, from);
}

/** A decimal string of 1 to 19 digits: certainly a uint64. */
function isShortUint64(s: string): boolean {
  return s.length <= 19 && isDigits(s, 0);
}

/** Whether `s[from, to)` is one or more ASCII digits. */
function isDigits(s: string, from: number, to = s.length): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function floatCheck(name: string, single: boolean): LeafCheck {
  const inRange = (n: number) =>
    single && !Number.isFinite(Math.fround(n)) ? `${name} out of range: ${n}` : undefined;
  return (v) => {
    if (typeof v === 'number') {
      return Number.isFinite(v) ? inRange(v) : `${v} must be written as the string "${v}"`;
    }
    if (typeof v === 'string') {
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return undefined;
      const n = numberFromString(v);
      return n !== undefined && Number.isFinite(n) ? inRange(n) : expected(name, v);
    }
    return expected(name, v);
  };
}

const enumNameSets = new WeakMap<DescEnum, ReadonlySet<string>>();

/** The names fromJson reads for the values of an enum: proto names and JSON names. */
function enumNames(desc: DescEnum): ReadonlySet<string> {
  let names = enumNameSets.get(desc);
  if (names === undefined) {
    names = new Set(desc.values.flatMap((value) => [value.name, value.jsonName]));
    enumNameSets.set(desc, names);
  }
  return names;
}

const enumChecks = new WeakMap<DescEnum, LeafCheck>();

function enumCheck(desc: DescEnum): LeafCheck {
  let check = enumChecks.get(desc);
  if (check === undefined) {
    check = makeEnumCheck(desc);
    enumChecks.set(desc, check);
  }
  return check;
}

function makeEnumCheck(desc: DescEnum): LeafCheck {
  const names = enumNames(desc);
  const numbers = new Set(desc.values.map((value) => value.number));
  const open = desc.open;
  const what = `a value of ${desc.typeName}`;
  return (v) => {
    if (typeof v === 'string') {
      return names.has(v) ? undefined : `unknown value of ${desc.typeName}: ${JSON.stringify(v)}`;
    }
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (open)
        return v < INT32_MIN || v > INT32_MAX ? `enum number out of range: ${v}` : undefined;
      return numbers.has(v) ? undefined : `unknown number of ${desc.typeName}: ${v}`;
    }
    return expected(what, v);
  };
}

// ---------------------------------------------------------------------------------------------
// Well-known types with a JSON form of their own

const NULL_VALUE = 'google.protobuf.NullValue';
/** Well-known types whose JSON form is one string or object checked as a whole. */
const SINGLE_VALUE_WKTS = new Set(
  ['Timestamp', 'Duration', 'FieldMask', 'Any'].map((name) => `google.protobuf.${name}`),
);
const VALUE = 'google.protobuf.Value';
const WRAPPERS = new Set(
  [
    'DoubleValue',
    'FloatValue',
    'Int64Value',
    'UInt64Value',
    'Int32Value',
    'UInt32Value',
    'BoolValue',
    'StringValue',
    'BytesValue',
  ].map((name) => `google.protobuf.${name}`),
);
const TIMESTAMP =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:Z|([+-][0-9][0-9]:[0-9][0-9]))$/;
const TIMESTAMP_MS_MIN = Date.parse('0001-01-01T00:00:00Z');
const TIMESTAMP_MS_MAX = Date.parse('9999-12-31T23:59:59Z');
/** As fromJson reads it: the suffix after `s` is not looked at. */
const DURATION = /^(-?[0-9]+)(?:\.([0-9]+))?s/;
const DURATION_SECONDS_MAX = 315_576_000_000;

function wellKnownCheck(desc: DescMessage): Check | undefined {
  if (!desc.typeName.startsWith('google.protobuf.')) return undefined;
  switch (desc.typeName) {
    case 'google.protobuf.Timestamp':
      return messageLeaf(timestampCheck);
    case 'google.protobuf.Duration':
      return messageLeaf(durationCheck);
    case 'google.protobuf.FieldMask':
      return messageLeaf(fieldMaskCheck);
    case 'google.protobuf.Any':
      return messageLeaf(anyCheck);
    case 'google.protobuf.Struct':
      return (v, ctx, depth) =>
        depth + 1 > RECURSION_LIMIT ? tooDeep() : structCheck(v, ctx, depth + 1);
    case 'google.protobuf.ListValue':
      return (v, ctx, depth) =>
        depth + 1 > RECURSION_LIMIT ? tooDeep() : listValueCheck(v, ctx, depth + 1);
    case VALUE:
      return (v, ctx, depth) =>
        depth + 1 > RECURSION_LIMIT ? tooDeep() : valueCheck(v, ctx, depth + 1);
    default: {
      const field = desc.fields[0];
      if (!WRAPPERS.has(desc.typeName) || field?.fieldKind !== 'scalar') return undefined;
      const wrapped = scalarCheck(field.scalar);
      return messageLeaf((v) => (v === null ? undefined : wrapped(v)));
    }
  }
}

/** A well-known message whose JSON form is a single value, counted against the depth limit. */
function messageLeaf(check: LeafCheck): Check {
  return (v, _ctx, depth) => (depth + 1 > RECURSION_LIMIT ? tooDeep() : check(v));
}

function tooDeep(): string {
  return `nested deeper than ${RECURSION_LIMIT} messages`;
}

function timestampCheck(v: unknown): string | undefined {
  if (typeof v !== 'string') return expected('RFC 3339 timestamp string', v);
  if (isPlainUtcTimestamp(v)) return undefined;
  const m = TIMESTAMP.exec(v);
  if (m === null) return `invalid RFC 3339 timestamp: ${JSON.stringify(v)}`;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8] ?? 'Z'}`);
  if (Number.isNaN(ms)) return `invalid RFC 3339 timestamp: ${JSON.stringify(v)}`;
  if (ms < TIMESTAMP_MS_MIN || ms > TIMESTAMP_MS_MAX) {
    return 'timestamp must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z';
  }
  return undefined;
}

/**
 * The fast path for what `toJson` writes (`2026-07-21T09:30:00.123Z`): UTC, fields in ranges that
 * every calendar accepts (days up to 28). Anything else takes fromJson's own path (regex, then
 * `Date.parse`, which for example rolls 30 February over to 2 March).
 */
function isPlainUtcTimestamp(s: string): boolean {
  const n = s.length;
  if (
    n < 20 ||
    n > 30 ||
    s.charCodeAt(n - 1) !== 0x5a /* Z */ ||
    s.charCodeAt(4) !== 0x2d /* - */ ||
    s.charCodeAt(7) !== 0x2d ||
    s.charCodeAt(10) !== 0x54 /* T */ ||
    s.charCodeAt(13) !== 0x3a /* : */ ||
    s.charCodeAt(16) !== 0x3a
  ) {
    return false;
  }
  const century = twoDigits(s, 0);
  const year = twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  if (century < 0 || year < 0 || (century === 0 && year === 0)) return false;
  if (month < 1 || month > 12 || day < 1 || day > 28) return false;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  if (n === 20) return true;
  // A fraction of 1 to 9 digits.
  if (n === 21 || s.charCodeAt(19) !== 0x2e /* . */) return false;
  return isDigits(s, 20, n - 1);
}

/** The two-digit decimal number at `s[i]`, or -1. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 0x30;
  const b = s.charCodeAt(i + 1) - 0x30;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function durationCheck(v: unknown): string | undefined {
  if (typeof v !== 'string') return expected('duration string such as "1.5s"', v);
  const m = DURATION.exec(v);
  if (m === null) return `invalid duration: ${JSON.stringify(v)}`;
  const seconds = Number(m[1]);
  if (seconds > DURATION_SECONDS_MAX || seconds < -DURATION_SECONDS_MAX) {
    return `duration out of range: ${JSON.stringify(v)}`;
  }
  if (m[2] !== undefined && m[2].length > 9) return `duration has more than 9 fractional digits`;
  return undefined;
}

function fieldMaskCheck(v: unknown): string | undefined {
  if (typeof v !== 'string') return expected('field mask string', v);
  if (v !== '' && v.split(',').some((path) => path.includes('_'))) {
    return 'field mask paths must be lowerCamelCase';
  }
  return undefined;
}

function anyCheck(v: unknown): string | undefined {
  if (!isPlainObject(v)) return expected('object', v);
  for (const _ in v) {
    const type = v['@type'];
    if (typeof type !== 'string' || type === '') return '"@type" is empty';
    return `cannot check ${type} inside google.protobuf.Any without a type registry`;
  }
  return undefined;
}

/** google.protobuf.Struct: any JSON object. `depth` already counts the Struct itself. */
function structCheck(v: unknown, ctx: Ctx, depth: number): string | undefined {
  if (!isPlainObject(v)) return expected('object', v);
  for (const key in v) {
    ctx.path.push(key);
    const problem = valueCheck(v[key], ctx, depth);
    ctx.path.pop();
    if (problem !== undefined) report(ctx, key, problem);
  }
  return undefined;
}

function listValueCheck(v: unknown, ctx: Ctx, depth: number): string | undefined {
  if (!Array.isArray(v)) return expected('array', v);
  for (let i = 0; i < v.length; i++) {
    ctx.path.push(i);
    const problem = valueCheck(v[i], ctx, depth);
    ctx.path.pop();
    if (problem !== undefined) report(ctx, i, problem);
  }
  return undefined;
}

/** google.protobuf.Value: any JSON value; each level counts against the depth limit. */
function valueCheck(v: unknown, ctx: Ctx, depth: number): string | undefined {
  const d = depth + 1;
  if (d > RECURSION_LIMIT) return tooDeep();
  switch (typeof v) {
    case 'number':
    case 'string':
    case 'boolean':
      return undefined;
    case 'object':
      if (v === null) return undefined;
      return Array.isArray(v) ? listValueCheck(v, ctx, d) : structCheck(v, ctx, d);
    default:
      return expected('JSON value', v);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function report(ctx: Ctx, last: string | number, message: string): void {
  let path = '';
  for (const segment of ctx.path) path = appendSegment(path, segment);
  ctx.issues.push({ path: appendSegment(path, last), message });
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function appendSegment(path: string, segment: string | number): string {
  if (typeof segment === 'number') return `${path}[${segment}]`;
  if (IDENTIFIER.test(segment)) return path === '' ? segment : `${path}.${segment}`;
  return `${path}[${JSON.stringify(segment)}]`;
}

function expected(what: string, v: unknown): string {
  return `expected ${what}, got ${describe(v)}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}…` : JSON.stringify(v);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'object':
      return isPlainObject(v) ? 'an object' : `a ${v.constructor?.name ?? 'non-plain'} object`;
    default:
      return typeof v;
  }
}
