import { type DescMessage, fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import {
  DurationSchema,
  FieldMaskSchema,
  Int64ValueSchema,
  StructSchema,
  TimestampSchema,
  ValueSchema,
} from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import {
  AgentCommandSchema,
  AnalysisRequestSchema,
  AnalysisVerdictSchema,
  eventCatalogue,
  ObservationRecordedSchema,
  ObservationSchema,
  ReleaseStartedSchema,
  WorkloadReadinessSchema,
} from './index.ts';
import { compileJsonShape, type JsonShapeCheck } from './json-shape.ts';
import { arbitraryMessageJson, ODD_VALUES, seededRandom } from './testing/arbitrary-json.ts';
import { KitchenSchema, LegacySchema } from './testing/kitchen-sink.ts';
import { sampleMessages } from './testing/sample-messages.ts';

const shapes = new Map<DescMessage, JsonShapeCheck>();
function shapeOf(desc: DescMessage): JsonShapeCheck {
  let shape = shapes.get(desc);
  if (shape === undefined) {
    shape = compileJsonShape(desc);
    shapes.set(desc, shape);
  }
  return shape;
}

/** The oracle: does protobuf-es' own JSON parser read the value? */
function fromJsonAccepts(desc: DescMessage, value: unknown): boolean {
  try {
    fromJson(desc, value as JsonValue);
    return true;
  } catch {
    return false;
  }
}

interface Disagreement {
  readonly schema: string;
  readonly value: string;
  readonly fromJson: boolean;
  readonly issues: unknown;
}

/** Checks every value against both; returns the disagreements, and how many values each accepted. */
function compare(desc: DescMessage, values: Iterable<unknown>) {
  const disagreements: Disagreement[] = [];
  let accepted = 0;
  let rejected = 0;
  for (const value of values) {
    const issues = shapeOf(desc)(value);
    const expected = fromJsonAccepts(desc, value);
    if (expected) accepted++;
    else rejected++;
    if ((issues.length === 0) !== expected) {
      disagreements.push({ schema: desc.typeName, value: show(value), fromJson: expected, issues });
    }
  }
  return { disagreements, accepted, rejected };
}

function show(value: unknown): string {
  return JSON.stringify(value, (_, v) =>
    typeof v === 'number' && !Number.isFinite(v) ? `<number ${v}>` : v,
  );
}

const wireSchemas: readonly DescMessage[] = [
  ObservationSchema,
  AgentCommandSchema,
  AnalysisRequestSchema,
  AnalysisVerdictSchema,
];

describe('compileJsonShape on canonical JSON', () => {
  it.each(sampleMessages.map((s) => [s.label, s] as const))('accepts toJson of %s', (_, sample) => {
    const check = shapeOf(sample.desc);
    const json = toJson(sample.desc, sample.message);
    expect(check(json)).toEqual([]);
    // As stored: through text and back.
    expect(check(JSON.parse(JSON.stringify(json)))).toEqual([]);
    // Defaults written out, and proto field names: both read by fromJson.
    expect(check(toJson(sample.desc, sample.message, { alwaysEmitImplicit: true }))).toEqual([]);
    expect(check(toJson(sample.desc, sample.message, { useProtoFieldName: true }))).toEqual([]);
  });

  it('has samples for every event of the catalogue', () => {
    const sampled = new Set(sampleMessages.map((s) => s.desc.typeName));
    expect(eventCatalogue.map((d) => d.typeName).filter((t) => !sampled.has(t))).toEqual([]);
  });
});

describe('compileJsonShape agrees with fromJson', () => {
  it('on hand-picked values of Aviary messages', () => {
    const cases: [DescMessage, unknown, boolean][] = [
      [ObservationSchema, {}, true],
      [ObservationSchema, null, false],
      [ObservationSchema, [], false],
      [ObservationSchema, 'x', false],
      [ObservationSchema, { cluster: 'eu-1', observedAt: '2026-07-21T09:30:00Z' }, true],
      [ObservationSchema, { observed_at: '2026-07-21T09:30:00Z' }, true],
      [ObservationSchema, { observed_at: null, observedAt: null }, false],
      [ObservationSchema, { observedAt: 1753090200 }, false],
      [ObservationSchema, { observedAt: '2026-07-21T09:30:00+02:00' }, true],
      [ObservationSchema, { heartbeat: { leaseMs: 30000, labels: { region: 'eu' } } }, true],
      [ObservationSchema, { heartbeat: { leaseMs: '30000' } }, true],
      [ObservationSchema, { heartbeat: { leaseMs: -1 } }, false],
      [ObservationSchema, { heartbeat: { leaseMs: 1.5 } }, false],
      [ObservationSchema, { heartbeat: { labels: { region: 1 } } }, false],
      [ObservationSchema, { heartbeat: { labels: { region: null } } }, false],
      [ObservationSchema, { heartbeat: { labels: null } }, true],
      [ObservationSchema, { heartbeat: {}, revisionSeen: {} }, false],
      [ObservationSchema, { heartbeat: {}, revisionSeen: null }, false],
      [ObservationSchema, { heartbeat: null, revision_seen: null }, false],
      [ObservationSchema, { heartbeat: null }, true],
      [ObservationSchema, { heartbeat: {}, extra: 1 }, false],
      [
        ObservationSchema,
        { workloadReadiness: { role: 'DEPLOYMENT_ROLE_PRIMARY', generation: '7', replicas: 3 } },
        true,
      ],
      [ObservationSchema, { workloadReadiness: { role: 2, generation: 7 } }, true],
      [ObservationSchema, { workloadReadiness: { role: 'PRIMARY' } }, false],
      [ObservationSchema, { workloadReadiness: { role: null } }, true],
      [ObservationSchema, { workloadReadiness: { generation: '9223372036854775808' } }, false],
      [ObservationSchema, { workloadReadiness: { generation: '1.5' } }, false],
      [ObservationSchema, { workloadReadiness: { conditions: [null] } }, false],
      [ObservationSchema, { workloadReadiness: { conditions: {} } }, false],
      [
        ObservationSchema,
        { workloadReadiness: { conditions: [{ status: 'CONDITION_STATUS_TRUE' }] } },
        true,
      ],
      [
        ObservationSchema,
        {
          routesApplied: {
            routes: { matches: [{ headers: { 'x-canary': { exact: 'a', regex: 'b' } } }] },
          },
        },
        false,
      ],
      [
        ObservationSchema,
        { routesApplied: { routes: { matches: [{ headers: { 'x-canary': { exact: 'a' } } }] } } },
        true,
      ],
      [AnalysisVerdictSchema, { evidence: { value: 'NaN', canary: { totalCount: '12' } } }, true],
      [AnalysisVerdictSchema, { evidence: { value: '97.2', lowerBound: 1e308 } }, true],
      [AnalysisVerdictSchema, { evidence: { value: Number.NaN } }, false],
      [AnalysisVerdictSchema, { evidence: { canary: { totalCount: -1 } } }, false],
      [AnalysisVerdictSchema, { outcome: 'ANALYSIS_OUTCOME_ERROR', retryAfterMs: 0 }, true],
      [ReleaseStartedSchema, { spec: { any: [{ json: null }, 1, 'x'] } }, true],
      [ReleaseStartedSchema, { spec: [] }, false],
      [ReleaseStartedSchema, { spec: null }, true],
      [ReleaseStartedSchema, { waves: [{ clusters: ['eu-1', null] }] }, false],
      [
        ObservationRecordedSchema,
        { observation: { heartbeat: { agentStartedAt: '2026-13-01T00:00:00Z' } } },
        false,
      ],
      // Date.parse rolls 30 February over to 2 March, and so does fromJson.
      [
        ObservationRecordedSchema,
        { observation: { heartbeat: { agentStartedAt: '2026-02-30T00:00:00Z' } } },
        true,
      ],
      [AgentCommandSchema, { scaleCanary: { replicas: 0 }, promoteCanary: {} }, false],
      [AgentCommandSchema, { scaleCanary: { replicas: null } }, true],
      [AgentCommandSchema, { scale_canary: { replicas: 3 }, command_id: 'c' }, true],
    ];
    const disagreements = cases.flatMap(([desc, value, valid]) => {
      const fromJson = fromJsonAccepts(desc, value);
      const issues = shapeOf(desc)(value);
      return fromJson === valid && (issues.length === 0) === valid
        ? []
        : [{ schema: desc.name, value: show(value), valid, fromJson, issues }];
    });
    expect(disagreements).toEqual([]);
  });

  it('on every single-point mutation of the canonical samples', () => {
    let accepted = 0;
    let rejected = 0;
    const disagreements: Disagreement[] = [];
    for (const sample of sampleMessages) {
      const json = toJson(sample.desc, sample.message);
      const result = compare(sample.desc, mutations(sample.desc, json));
      accepted += result.accepted;
      rejected += result.rejected;
      disagreements.push(...result.disagreements);
    }
    expect(disagreements.slice(0, 10)).toEqual([]);
    // The mutations must exercise both outcomes, or the agreement says little.
    expect(accepted).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(1000);
  });

  // Few fields at a time for the kitchen sink, which has sixty: else hardly any value is valid.
  const randomTargets: [string, DescMessage, number, number][] = [
    ...[...eventCatalogue, ...wireSchemas].map((d): [string, DescMessage, number, number] => [
      d.typeName,
      d,
      400,
      0.5,
    ]),
    ['Kitchen (every scalar, map key and well-known type)', KitchenSchema, 3000, 0.06],
    ['Legacy (proto2, closed enum)', LegacySchema, 400, 0.5],
  ];

  it.each(randomTargets)('on random near-canonical values of %s', (_, desc, n, presence) => {
    const random = seededRandom(hash(desc.typeName));
    const options = { oddness: 0.03, presence };
    const result = compare(
      desc,
      generate(n, () => arbitraryMessageJson(desc, random, options)),
    );
    expect(result.disagreements.slice(0, 5)).toEqual([]);
    if (desc.fields.length > 0) {
      expect(result.accepted).toBeGreaterThan(20);
      expect(result.rejected).toBeGreaterThan(desc.fields.length > 2 ? 20 : 5);
    }
  });

  it('on the well-known types at the top level', () => {
    const values = [
      ...ODD_VALUES,
      '1.5s',
      '-1s',
      '1.0123456789s',
      '',
      'a,b',
      'a_b',
      { a: [1, { b: null }] },
    ];
    for (const desc of [
      TimestampSchema,
      DurationSchema,
      FieldMaskSchema,
      StructSchema,
      ValueSchema,
      Int64ValueSchema,
    ]) {
      expect(compare(desc, values).disagreements).toEqual([]);
    }
  });

  it('on the recursion limit', () => {
    const nestedValue = (n: number): unknown => (n === 0 ? 1 : [nestedValue(n - 1)]);
    const nestedKitchen = (n: number): unknown => (n === 0 ? {} : { child: nestedKitchen(n - 1) });
    const values = [97, 98, 99, 100, 101].flatMap((n) => [
      { value: nestedValue(n) },
      { struct: { a: nestedValue(n) } },
      nestedKitchen(n),
      { oChild: nestedKitchen(n) },
    ]);
    const result = compare(KitchenSchema, values);
    expect(result.disagreements).toEqual([]);
    expect(result.rejected).toBeGreaterThan(0);
  });
});

describe('compileJsonShape issues', () => {
  it('returns [] for a valid value and an issue per problem, each with its path', () => {
    const check = shapeOf(ObservationSchema);
    expect(check({ cluster: 'eu-1' })).toEqual([]);
    expect(
      check({
        cluster: 7,
        bogus: true,
        routesApplied: {
          router: 'ROUTER_KIND_MAGIC',
          routes: {
            canaryWeightPercent: 4294967296,
            matches: [
              {},
              {},
              { headers: { 'x-canary': { exact: 'a', prefix: 'b' } }, cookies: { id: 3 } },
            ],
          },
        },
      }),
    ).toEqual([
      { path: 'cluster', message: 'expected string, got 7' },
      { path: 'bogus', message: 'unknown field of aviary.agent.v1.Observation' },
      {
        path: 'routesApplied.router',
        message: 'unknown value of aviary.common.v1.RouterKind: "ROUTER_KIND_MAGIC"',
      },
      {
        path: 'routesApplied.routes.canaryWeightPercent',
        message: 'uint32 out of range: 4294967296',
      },
      {
        path: 'routesApplied.routes.matches[2].headers["x-canary"].prefix',
        message: 'oneof kind is already set by "exact": set one member only',
      },
      { path: 'routesApplied.routes.matches[2].cookies.id', message: 'expected object, got 3' },
    ]);
  });

  it('reports a value of the wrong type at the top level with an empty path', () => {
    expect(shapeOf(ObservationSchema)([])).toEqual([
      { path: '', message: 'expected object, got an array' },
    ]);
  });

  it('reports a field given by both its names', () => {
    expect(shapeOf(WorkloadReadinessSchema)({ ready_replicas: 1, readyReplicas: 1 })).toEqual([
      { path: 'ready_replicas', message: 'set twice, as "ready_replicas" and "readyReplicas"' },
    ]);
  });

  it('rejects objects that JSON.parse cannot produce', () => {
    expect(shapeOf(ObservationSchema)(new Date())).toHaveLength(1);
    expect(shapeOf(ObservationSchema)({ heartbeat: { labels: new Map() } })).toHaveLength(1);
  });
});

/** Every value obtained by changing one place of `json`, guided by the schema where it knows it. */
function* mutations(desc: DescMessage, json: unknown): Generator<unknown> {
  const random = seededRandom(hash(desc.typeName) ^ 0x5eed);
  for (const { path, node, message } of walk(desc, json, [])) {
    for (const odd of ODD_VALUES) yield replaceAt(json, path, odd);
    if (Array.isArray(node)) {
      yield replaceAt(json, path, [...node, null]);
      yield replaceAt(json, path, [...node, node[0] ?? 1]);
    }
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const object = node as Record<string, unknown>;
      yield replaceAt(json, path, { ...object, bogus: 1 });
      for (const key of Object.keys(object)) {
        const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        if (snake !== key) {
          const { [key]: value, ...rest } = object;
          yield replaceAt(json, path, { ...rest, [snake]: value });
          yield replaceAt(json, path, { ...object, [snake]: value });
        }
      }
    }
    if (message !== undefined) {
      const object = node as Record<string, unknown>;
      // Every absent field, set: a second member of a set oneof among them.
      for (const field of message.fields) {
        if (field.jsonName in object || field.name in object) continue;
        const generated = arbitraryMessageJson(message, random, { oddness: 0 }) as Record<
          string,
          unknown
        >;
        const value =
          generated[field.jsonName] ??
          (field.fieldKind === 'message' ? {} : field.fieldKind === 'list' ? [] : null);
        yield replaceAt(json, path, { ...object, [field.jsonName]: value });
      }
    }
  }
}

interface Node {
  readonly path: readonly (string | number)[];
  readonly node: unknown;
  /** The message type of the node, when it is a message object. */
  readonly message: DescMessage | undefined;
}

function* walk(
  desc: DescMessage | undefined,
  node: unknown,
  path: (string | number)[],
): Generator<Node> {
  const message =
    desc !== undefined && isObject(node) && !desc.typeName.startsWith('google.') ? desc : undefined;
  yield { path, node, message };
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) yield* walk(undefined, node[i], [...path, i]);
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      const field = message?.fields.find((f) => f.jsonName === key || f.name === key);
      const child = field?.fieldKind === 'message' ? field.message : undefined;
      if (field?.fieldKind === 'list' && field.listKind === 'message' && Array.isArray(value)) {
        yield { path: [...path, key], node: value, message: undefined };
        for (let i = 0; i < value.length; i++)
          yield* walk(field.message, value[i], [...path, key, i]);
      } else if (field?.fieldKind === 'map' && field.mapKind === 'message' && isObject(value)) {
        yield { path: [...path, key], node: value, message: undefined };
        for (const [k, v] of Object.entries(value))
          yield* walk(field.message, v, [...path, key, k]);
      } else {
        yield* walk(child, value, [...path, key]);
      }
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function replaceAt(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(root)) {
    const copy = [...root];
    copy[head as number] = replaceAt(root[head as number], rest, value);
    return copy;
  }
  const object = root as Record<string, unknown>;
  return { ...object, [head]: replaceAt(object[head], rest, value) };
}

function generate(n: number, make: () => unknown): unknown[] {
  return Array.from({ length: n }, make);
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
