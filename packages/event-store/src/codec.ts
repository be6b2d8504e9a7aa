import { AviaryError, ErrorCode, ValidationError, type ValidationIssue } from '@aviary/core';
import { compileJsonShape, schemaVersionOf } from '@aviary/proto';
import {
  type DescMessage,
  fromJson,
  type JsonValue as PbJsonValue,
  toJson,
} from '@bufbuild/protobuf';
import type { JsonObject, NewEvent } from './types.ts';

/**
 * Turns events into what the log stores and back, against the protobuf schemas of the event
 * catalogue: the event type is the message name, the schema version is the version of its
 * package (`aviary.release.v1` → 1), and the data is the message's canonical protobuf JSON.
 *
 * Writing is strict (the message's own JSON parser, then its canonical serialiser). Reading checks
 * the stored JSON against a shape compiled from the same schema, several times faster than a full
 * parse, because replaying the log must fold hundreds of thousands of events a second.
 */
export interface EventCodec {
  /** Validates one event's data and returns its canonical JSON. Throws `ValidationError`. */
  encode(event: NewEvent, path: string): { schemaVersion: number; data: JsonObject };
  /** Checks a stored event; returns the reason it cannot be used, or `undefined` when it can. */
  check(type: string, schemaVersion: number, data: unknown): string | undefined;
  /** The event types this codec knows, sorted. */
  readonly types: readonly string[];
}

interface Entry {
  readonly desc: DescMessage;
  readonly schemaVersion: number;
  readonly shape: (value: unknown) => ValidationIssue[];
}

export function createEventCodec(schemas: readonly DescMessage[]): EventCodec {
  const entries = new Map<string, Entry>();
  for (const desc of schemas) {
    if (entries.has(desc.name)) {
      throw new AviaryError(
        ErrorCode.Config,
        `two event schemas are named ${desc.name} (${entries.get(desc.name)?.desc.typeName} and ${desc.typeName}): event types must be unique`,
      );
    }
    entries.set(desc.name, {
      desc,
      schemaVersion: schemaVersionOf(desc),
      shape: compileJsonShape(desc),
    });
  }
  const types = [...entries.keys()].sort();

  return {
    types,
    encode(event, path) {
      const entry = entries.get(event.type);
      if (!entry) {
        throw new ValidationError('event rejected', [
          {
            path: `${path}.type`,
            message: `unknown event type "${event.type}" (known: ${types.join(', ')})`,
          },
        ]);
      }
      return {
        schemaVersion: entry.schemaVersion,
        data: canonicalJson(entry.desc, event.data, `${path}.data`),
      };
    },
    check(type, schemaVersion, data) {
      const entry = entries.get(type);
      if (!entry) return `unknown event type "${type}"`;
      if (schemaVersion !== entry.schemaVersion) {
        return `schema version ${schemaVersion} of ${type} is not readable by this version (${entry.schemaVersion}) and no upcaster is registered`;
      }
      const issues = entry.shape(data);
      if (issues.length === 0) return undefined;
      return `data does not match ${entry.desc.typeName}: ${issues
        .slice(0, 5)
        .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
        .join('; ')}`;
    },
  };
}

function canonicalJson(desc: DescMessage, data: unknown, path: string): JsonObject {
  try {
    const message =
      isMessage(data) && data.$typeName === desc.typeName
        ? data
        : fromJson(desc, data as PbJsonValue, { ignoreUnknownFields: false });
    const json = toJson(desc, message as never);
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new Error(`${desc.typeName} did not serialise to a JSON object`);
    }
    return json as JsonObject;
  } catch (error) {
    if (isMessage(data) && data.$typeName !== desc.typeName) {
      throw new ValidationError('event rejected', [
        { path, message: `is a ${data.$typeName} message, expected ${desc.typeName}` },
      ]);
    }
    throw new ValidationError(
      'event rejected',
      [{ path, message: error instanceof Error ? error.message : String(error) }],
      { cause: error },
    );
  }
}

function isMessage(value: unknown): value is { $typeName: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { $typeName?: unknown }).$typeName === 'string'
  );
}
