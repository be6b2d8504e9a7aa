import type { EventCodec } from './codec.ts';
import type { CorruptEvent, EventMetadata, JsonObject, RecordedEvent } from './types.ts';

/**
 * The columns every read selects, bigints as text so that both
 * drivers (pg returns int8 as strings, PGlite as numbers) give the same thing, and the recording
 * time as epoch milliseconds (parsing timestamp text costs more than the rest of the row).
 */
export const EVENT_COLUMNS = `global_position::text AS pos, transaction_id::text AS tx,
  stream_id, stream_version::text AS ver, event_id, event_type, schema_version, data, metadata,
  floor(extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms`;

export interface EventRow {
  pos: string;
  tx: string;
  stream_id: string;
  ver: string;
  event_id: string;
  event_type: string;
  schema_version: number;
  data: unknown;
  metadata: unknown;
  recorded_ms: number | string;
}

/** Decodes one row, or describes why it cannot be: a bad row never throws here. */
export function decodeRow(codec: EventCodec, row: EventRow): RecordedEvent | CorruptEvent {
  const position = { transactionId: BigInt(row.tx), position: BigInt(row.pos) };
  const streamVersion = BigInt(row.ver);
  const reason =
    codec.check(row.event_type, row.schema_version, row.data) ?? metadataProblem(row.metadata);
  if (reason !== undefined) {
    return {
      position,
      streamId: row.stream_id,
      streamVersion,
      eventId: row.event_id,
      type: row.event_type,
      reason,
    };
  }
  return {
    id: row.event_id,
    streamId: row.stream_id,
    streamVersion,
    position,
    type: row.event_type,
    schemaVersion: row.schema_version,
    data: row.data as JsonObject,
    metadata: row.metadata as EventMetadata,
    recordedAt: new Date(Number(row.recorded_ms)),
  };
}

export function isCorrupt(event: RecordedEvent | CorruptEvent): event is CorruptEvent {
  return 'reason' in event;
}

function metadataProblem(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    return 'metadata is not a JSON object';
  }
  for (const key in metadata) {
    if (typeof (metadata as Record<string, unknown>)[key] !== 'string') {
      return `metadata.${key} is not a string`;
    }
  }
  return undefined;
}
