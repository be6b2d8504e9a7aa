import { type Kysely, sql } from 'kysely';

/**
 * The event log: streams, events (ordered by transaction id and position so that readers never
 * skip an event), consumer checkpoints, the outbox, and the append function that writes all of
 * them in one round trip. See docs/event-log.md for why each piece is the way it is.
 *
 * One statement per `sql` call: PGlite's extended protocol rejects several statements at once.
 */
const statements = [
  `CREATE TABLE streams (
     stream_id   text        PRIMARY KEY,
     category    text        NOT NULL,
     version     bigint      NOT NULL CHECK (version >= 0),
     created_at  timestamptz NOT NULL DEFAULT now(),
     updated_at  timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE events (
     global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
     stream_id       text        NOT NULL,
     stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
     event_id        text        NOT NULL,
     event_type      text        NOT NULL,
     schema_version  integer     NOT NULL DEFAULT 1,
     data            jsonb       NOT NULL,
     metadata        jsonb       NOT NULL DEFAULT '{}',
     recorded_at     timestamptz NOT NULL DEFAULT now(),
     CONSTRAINT events_stream_version_uq UNIQUE (stream_id, stream_version),
     CONSTRAINT events_event_id_uq UNIQUE (event_id)
   )`,
  'CREATE INDEX events_tx_position_idx ON events (transaction_id, global_position)',
  `CREATE TABLE checkpoints (
     consumer_id   text        PRIMARY KEY,
     last_tx       xid8        NOT NULL,
     last_position bigint      NOT NULL,
     updated_at    timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE outbox (
     position        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     message_id      text        NOT NULL,
     stream_id       text        NOT NULL,
     subject         text        NOT NULL,
     payload         bytea       NOT NULL,
     headers         jsonb       NOT NULL DEFAULT '{}',
     created_at      timestamptz NOT NULL DEFAULT now(),
     attempts        integer     NOT NULL DEFAULT 0,
     next_attempt_at timestamptz,
     last_error      text,
     published_at    timestamptz,
     CONSTRAINT outbox_message_id_uq UNIQUE (message_id)
   )`,
  'CREATE INDEX outbox_pending_idx ON outbox (position) WHERE published_at IS NULL',
  'CREATE INDEX outbox_pending_subject_idx ON outbox (subject, position) WHERE published_at IS NULL',
  // es_append_batch(appends) appends several independent appends in one transaction (group
  // commit). Each element: { s: stream id, e: expected version (-1 no stream, -2 any, -3 stream
  // exists, >= 0 exact), ev: [{ id, type, v, data, meta }], ob: [{ id, subject, payload (base64),
  // headers }] }. It never raises for an append's own outcome: each gets a result object
  // ({ status: ok | duplicate | conflict | mismatch, ... }) so one append's conflict does not undo
  // the others. Per stream, an advisory transaction lock is taken before anything is written, so
  // that a stream's order equals its global (transaction id, position) order.
  `CREATE FUNCTION es_append_batch(p_appends jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
   DECLARE
     v_append   jsonb;
     v_event    jsonb;
     v_match    boolean;
     v_stream   text;
     v_expected bigint;
     v_events   jsonb;
     v_count    bigint;
     v_current  bigint;
     v_found    bigint;
     v_same     bigint;
     v_first    bigint;
     v_last     bigint;
     v_results  jsonb := '[]'::jsonb;
     v_appended boolean := false;
   BEGIN
     FOR v_append IN SELECT value FROM jsonb_array_elements(p_appends) LOOP
       v_stream := v_append->>'s';
       v_expected := (v_append->>'e')::bigint;
       v_events := v_append->'ev';
       v_count := jsonb_array_length(v_events);
       PERFORM pg_advisory_xact_lock(hashtextextended(v_stream, 0));
       SELECT version INTO v_current FROM streams WHERE stream_id = v_stream;

       -- Idempotency: an append whose event ids are already stored is a no-op when it is the
       -- same append (same stream, types and data), and an error otherwise. Only the first id is
       -- looked up on the common path; a later id that is already stored fails the insert on
       -- the unique constraint instead. (Equality lookups only: a join here gets a generic plan
       -- that scans the whole table once the function's plans are cached.)
       IF EXISTS (SELECT 1 FROM events WHERE event_id = v_events->0->>'id') THEN
         v_found := 0;
         v_same := 0;
         FOR v_event IN SELECT value FROM jsonb_array_elements(v_events) LOOP
           SELECT e.stream_id = v_stream AND e.event_type = v_event->>'type' AND e.data = v_event->'data'
             INTO v_match FROM events e WHERE e.event_id = v_event->>'id';
           IF FOUND THEN
             v_found := v_found + 1;
             IF v_match THEN v_same := v_same + 1; END IF;
           END IF;
         END LOOP;
         IF v_found = v_count AND v_same = v_count THEN
           v_results := v_results || jsonb_build_array(jsonb_build_object(
             'status', 'duplicate', 'version', v_current));
         ELSE
           v_results := v_results || jsonb_build_array(jsonb_build_object(
             'status', 'mismatch', 'found', v_found, 'same', v_same));
         END IF;
         CONTINUE;
       END IF;

       IF (v_expected = -1 AND v_current IS NOT NULL)
          OR (v_expected = -3 AND v_current IS NULL)
          OR (v_expected >= 0 AND coalesce(v_current, 0) <> v_expected) THEN
         v_results := v_results || jsonb_build_array(jsonb_build_object(
           'status', 'conflict', 'actual', coalesce(v_current, -1)));
         CONTINUE;
       END IF;

       v_current := coalesce(v_current, 0);
       INSERT INTO streams AS s (stream_id, category, version)
         VALUES (v_stream, split_part(v_stream, '-', 1), v_current + v_count)
         ON CONFLICT (stream_id) DO UPDATE SET version = s.version + v_count, updated_at = now();
       WITH inserted AS (
         INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
         SELECT v_stream, v_current + n.ordinality, n.value->>'id', n.value->>'type',
                (n.value->>'v')::integer, n.value->'data', coalesce(n.value->'meta', '{}'::jsonb)
           FROM jsonb_array_elements(v_events) WITH ORDINALITY AS n
         RETURNING global_position)
       SELECT min(global_position), max(global_position) INTO v_first, v_last FROM inserted;
       INSERT INTO outbox (message_id, stream_id, subject, payload, headers)
         SELECT m.value->>'id', v_stream, m.value->>'subject', decode(m.value->>'payload', 'base64'),
                coalesce(m.value->'headers', '{}'::jsonb)
           FROM jsonb_array_elements(coalesce(v_append->'ob', '[]'::jsonb)) AS m;
       v_appended := true;
       v_results := v_results || jsonb_build_array(jsonb_build_object(
         'status', 'ok', 'version', v_current + v_count, 'first', v_first, 'last', v_last));
     END LOOP;
     IF v_appended THEN
       PERFORM pg_notify('aviary_events', '');
     END IF;
     RETURN jsonb_build_object('tx', pg_current_xact_id_if_assigned()::text, 'results', v_results);
   END
   $fn$`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) {
    await sql.raw(statement).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'DROP FUNCTION IF EXISTS es_append_batch(jsonb)',
    'DROP TABLE IF EXISTS outbox',
    'DROP TABLE IF EXISTS checkpoints',
    'DROP TABLE IF EXISTS events',
    'DROP TABLE IF EXISTS streams',
  ]) {
    await sql.raw(statement).execute(db);
  }
}
