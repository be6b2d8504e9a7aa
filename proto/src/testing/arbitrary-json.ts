import { type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';

/**
 * A seeded generator of JSON values for a message: mostly valid canonical-JSON-like values, with
 * every kind of near miss mixed in (wrong types, out-of-range numbers, numeric strings, bad enum
 * names, unknown keys, proto names, both names of a field, several members of one oneof, null in
 * lists, duplicate map keys in disguise, bad timestamps and durations). For property tests that
 * compare `compileJsonShape` with `fromJson`.
 */
export type Random = () => number;

/** mulberry32: small, fast, deterministic. */
export function seededRandom(seed: number): Random {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: Random, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)] as T;
}

/** Values that are wrong for most fields, and right for some. */
export const ODD_VALUES: readonly unknown[] = [
  null,
  '',
  ' 1',
  '1',
  '-1',
  '0x10',
  '1e3',
  '1.5',
  1.5,
  -1,
  0,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 32,
  2 ** 53 + 2,
  1e39,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  'NaN',
  'Infinity',
  '-Infinity',
  true,
  'true',
  {},
  [],
  [1, 'a'],
  { a: 1 },
  'abc',
  'QQ==',
  'Q',
  '\ud800',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775809',
  '18446744073709551615',
  '18446744073709551616',
  '-0',
  '00012',
  'COLOR_RED',
  '2026-07-21T09:30:00Z',
  '1.5s',
];

const STRINGS = ['', 'eu-1', 'checkout', 'ünïcödé ✓', 'a b/c', 'x'.repeat(50)];
const TIMESTAMPS = [
  '2026-07-21T09:30:00Z',
  '2026-07-21T09:30:00.123456789+02:00',
  '2026-07-21T09:30:00.5Z',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-07-21 09:30:00Z',
  '2026-07-21T09:30:00',
  '2026-07-21T09:30:00.1234567891Z',
  '2026-07-21t09:30:00z',
  1753090200,
];
const DURATIONS = [
  '0s',
  '1.5s',
  '-0.5s',
  '1.000000001s',
  '1.1234567890s',
  '1sfoo',
  's',
  '1',
  '-315576000000s',
  '315576000001s',
  '1.s',
  1.5,
];
const FIELD_MASKS = ['', 'a', 'fooBar,baz.qux', 'foo_bar', 'a,,b'];
const ANYS = [
  {},
  { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s' },
  { '@type': '' },
  { foo: 1 },
];
const WRAPPED: Record<string, ScalarType> = {
  'google.protobuf.DoubleValue': ScalarType.DOUBLE,
  'google.protobuf.FloatValue': ScalarType.FLOAT,
  'google.protobuf.Int64Value': ScalarType.INT64,
  'google.protobuf.UInt64Value': ScalarType.UINT64,
  'google.protobuf.Int32Value': ScalarType.INT32,
  'google.protobuf.UInt32Value': ScalarType.UINT32,
  'google.protobuf.BoolValue': ScalarType.BOOL,
  'google.protobuf.StringValue': ScalarType.STRING,
  'google.protobuf.BytesValue': ScalarType.BYTES,
};

export interface ArbitraryOptions {
  /** Chance that a generated value is replaced by one of ODD_VALUES. */
  readonly oddness: number;
  /** Chance that a field is present (a fifth of it for oneof members). */
  readonly presence?: number;
}

export function arbitraryMessageJson(
  desc: DescMessage,
  random: Random,
  options: ArbitraryOptions = { oddness: 0.03 },
): unknown {
  return message(desc, random, options, 0);
}

function odd<T>(random: Random, options: ArbitraryOptions, make: () => T): T | unknown {
  return random() < options.oddness ? pick(random, ODD_VALUES) : make();
}

function message(
  desc: DescMessage,
  random: Random,
  options: ArbitraryOptions,
  depth: number,
): unknown {
  const wkt = wellKnown(desc, random, options, depth);
  if (wkt !== undefined) return wkt.value;
  const json: Record<string, unknown> = random() < 0.02 ? Object.create(null) : {};
  if (depth > 3) return json;
  for (const f of desc.fields) {
    const presence = options.presence ?? 0.5;
    if (random() >= (f.oneof === undefined ? presence : presence / 2.5)) continue;
    const key = random() < 0.85 ? f.jsonName : f.name;
    json[key] =
      random() < 0.05 ? null : odd(random, options, () => fieldValue(f, random, options, depth));
    if (random() < 0.02)
      json[key === f.name ? f.jsonName : f.name] = fieldValue(f, random, options, depth);
  }
  if (random() < 0.03) json[pick(random, ['bogus', '[ext.x]', '__proto__x'])] = 1;
  return json;
}

function fieldValue(
  f: DescField,
  random: Random,
  options: ArbitraryOptions,
  depth: number,
): unknown {
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar, random);
    case 'enum':
      return enumValue(f.enum, random);
    case 'message':
      return message(f.message, random, options, depth + 1);
    case 'list': {
      const item = (): unknown => {
        if (random() < 0.03) return null;
        switch (f.listKind) {
          case 'scalar':
            return scalar(f.scalar, random);
          case 'enum':
            return enumValue(f.enum, random);
          case 'message':
            return message(f.message, random, options, depth + 1);
        }
      };
      return Array.from({ length: Math.floor(random() * 4) }, () => odd(random, options, item));
    }
    case 'map': {
      const map: Record<string, unknown> = {};
      const n = Math.floor(random() * 4);
      for (let i = 0; i < n; i++) {
        const value = (): unknown => {
          if (random() < 0.03) return null;
          switch (f.mapKind) {
            case 'scalar':
              return scalar(f.scalar, random);
            case 'enum':
              return enumValue(f.enum, random);
            case 'message':
              return message(f.message, random, options, depth + 1);
          }
        };
        map[mapKey(f.mapKey, random)] = odd(random, options, value);
      }
      return map;
    }
  }
}

function mapKey(type: ScalarType, random: Random): string {
  switch (type) {
    case ScalarType.BOOL:
      return pick(random, ['true', 'false', 'True', '1']);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick(random, ['1', '-1', '01', ' 1', 'x', '2147483648', '1.0', '1e2', '0x1']);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(random, ['0', '4294967295', '-1', '4294967296', '01', '7']);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(random, ['0', '-0', '00', '1', '01', '-1', '9223372036854775808', 'x', ' 2']);
    default:
      return pick(random, ['region', 'x-canary', 'a.b', '', 'zone 1', 'env', '\ud800']);
  }
}

function scalar(type: ScalarType, random: Random): unknown {
  switch (type) {
    case ScalarType.STRING:
      return pick(random, STRINGS);
    case ScalarType.BOOL:
      return random() < 0.5;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick(random, [0, 1, -1, 2147483647, -2147483648, 4242, '12', -7]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(random, [0, 1, 30_000, 4294967295, '7', 100]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return pick(random, [
        '0',
        '1',
        '-1',
        '9223372036854775807',
        '-9223372036854775808',
        12,
        '1204',
      ]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(random, ['0', '1', '18446744073709551615', '98812', 5, '-1']);
    case ScalarType.DOUBLE:
      return pick(random, [0, 1.5, -2.25e-10, 1e308, 97.25, 'NaN', 'Infinity', '-Infinity', '1.5']);
    case ScalarType.FLOAT:
      return pick(random, [0, 1.5, 3.4e38, 3.5e38, 'NaN', '-Infinity', '1e39']);
    case ScalarType.BYTES:
      return pick(random, ['', 'AAEC', 'QUJD', 'QQ', 'QQ==', '-_8', 'Zm9v\nYmFy', 'Zm9v!']);
  }
}

function enumValue(desc: DescEnum, random: Random): unknown {
  if (random() < 0.8) return pick(random, desc.values).name;
  return pick(random, [0, 1, 2, 99, -1, 2 ** 31, `${desc.name.toUpperCase()}_NOPE`, '1']);
}

function arbitraryJson(random: Random, depth: number): unknown {
  const r = random();
  if (depth > 3 || r < 0.6) {
    return pick(random, [null, true, false, 0, -1.5, 1e300, 'x', '', 'é']);
  }
  if (r < 0.8)
    return Array.from({ length: Math.floor(random() * 3) }, () => arbitraryJson(random, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(random() * 3); i > 0; i--)
    object[pick(random, ['a', 'b c', 'é'])] = arbitraryJson(random, depth + 1);
  return object;
}

function wellKnown(
  desc: DescMessage,
  random: Random,
  options: ArbitraryOptions,
  depth: number,
): { value: unknown } | undefined {
  switch (desc.typeName) {
    case 'google.protobuf.Timestamp':
      return { value: pick(random, TIMESTAMPS) };
    case 'google.protobuf.Duration':
      return { value: pick(random, DURATIONS) };
    case 'google.protobuf.FieldMask':
      return { value: pick(random, FIELD_MASKS) };
    case 'google.protobuf.Any':
      return { value: pick(random, ANYS) };
    case 'google.protobuf.Empty':
      return { value: random() < 0.9 ? {} : { a: 1 } };
    case 'google.protobuf.Struct': {
      const value = arbitraryJson(random, depth);
      return {
        value: value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {},
      };
    }
    case 'google.protobuf.ListValue':
      return {
        value: Array.from({ length: Math.floor(random() * 3) }, () => arbitraryJson(random, 1)),
      };
    case 'google.protobuf.Value':
      return { value: arbitraryJson(random, 0) };
    default: {
      const wrapped = WRAPPED[desc.typeName];
      if (wrapped === undefined) return undefined;
      return { value: odd(random, options, () => scalar(wrapped, random)) };
    }
  }
}
