import { isAviaryError } from '@aviary/core';
import type { DescMessage } from '@bufbuild/protobuf';
import { TimestampSchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import {
  agentCommandSchema,
  analysisRequestSchema,
  analysisVerdictSchema,
  eventCatalogue,
  ObservationSchema,
  observationSchema,
  ReleaseStartedSchema,
  releaseEventSchemas,
  schemaVersionOf,
} from './index.ts';

/** The files whose every message is a release event (types.proto holds the rest). */
const EVENT_FILES = [
  'aviary/release/v1/input_events.proto',
  'aviary/release/v1/fleet_events.proto',
  'aviary/release/v1/canary_events.proto',
  'aviary/release/v1/effect_events.proto',
];

describe('event catalogue', () => {
  it('lists exactly the messages of the release event files', () => {
    const file = ReleaseStartedSchema.file;
    expect(file.name).toBe('aviary/release/v1/fleet_events');
    const declared = new Set<string>();
    for (const desc of releaseEventSchemas) declared.add(`${desc.file.name}.proto`);
    expect([...declared].sort()).toEqual([...EVENT_FILES].sort());
    const inFiles = new Set(
      releaseEventSchemas.flatMap((d) => d.file.messages).map((m) => m.typeName),
    );
    expect(releaseEventSchemas.map((d) => d.typeName).sort()).toEqual([...inFiles].sort());
  });

  it('has unique event types, all in aviary.release.v1 and in the past tense', () => {
    const names = eventCatalogue.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const desc of eventCatalogue) {
      expect(desc.typeName).toBe(`aviary.release.v1.${desc.name}`);
      // WaveBaking is the one state-like name, as the architecture calls it.
      expect(desc.name).toMatch(/(ed|RolledBack|Held|Baking)$/);
    }
  });

  it('names the wire schemas', () => {
    expect(observationSchema).toBe(ObservationSchema);
    expect(
      [observationSchema, agentCommandSchema, analysisRequestSchema, analysisVerdictSchema].map(
        (d) => d.typeName,
      ),
    ).toEqual([
      'aviary.agent.v1.Observation',
      'aviary.agent.v1.AgentCommand',
      'aviary.analysis.v1.AnalysisRequest',
      'aviary.analysis.v1.AnalysisVerdict',
    ]);
  });
});

describe('schemaVersionOf', () => {
  const fake = (typeName: string) => ({ typeName }) as DescMessage;

  it('reads the version of the package', () => {
    expect(eventCatalogue.map(schemaVersionOf)).toEqual(eventCatalogue.map(() => 1));
    expect(schemaVersionOf(fake('aviary.release.v2.TickRecorded'))).toBe(2);
    expect(schemaVersionOf(fake('aviary.release.v12.Outer.Inner'))).toBe(12);
  });

  it('throws for a package without a plain version', () => {
    for (const typeName of ['aviary.release.TickRecorded', 'aviary.release.v1beta1.X', 'X', 'v1']) {
      expect(() => schemaVersionOf(fake(typeName)), typeName).toThrow(/not in a versioned package/);
    }
    try {
      schemaVersionOf(TimestampSchema);
      expect.unreachable();
    } catch (error) {
      expect(isAviaryError(error, 'CONFIG')).toBe(true);
    }
  });
});
