/**
 * The head of the log: a position from which a subscription sees everything appended from now on
 * and nothing before. The event store has no "head" call, and scanning the whole log to find its
 * end would cost a pass over every event ever recorded, so the head is found by searching:
 * `readAll({ after: (t, 0), limit: 1 })` answers "is there an event in transaction `t` or a later
 * one?" with one indexed row, which is monotone in `t`; an exponential then binary search finds
 * the last transaction with events in O(log t) such reads, and the rest of the log from that
 * transaction on is paged through to its end.
 *
 * The result is a safe cursor: it is a position `readAll` returned, and `readAll` only returns
 * rows below the oldest running transaction, so no event can later appear at or before it.
 */
import { comparePositions, type EventStore, type GlobalPosition, START } from '@aviary/event-store';

/** PostgreSQL's `xid8` is an unsigned 64-bit integer. */
const MAX_TRANSACTION_ID = 2n ** 64n - 1n;
const PAGE = 1000;

/** The position of the last event of the log (`START` when it is empty). */
export async function findLogHead(
  store: Pick<EventStore, 'readAll'>,
  signal?: AbortSignal,
): Promise<GlobalPosition> {
  /** The transaction id of the first event in transaction `t` or later, if any. */
  const firstTransactionFrom = async (t: bigint): Promise<bigint | undefined> => {
    if (t > MAX_TRANSACTION_ID) return undefined;
    const after = { transactionId: t, position: 0n };
    const page = await store.readAll({ after, limit: 1, ...(signal ? { signal } : {}) });
    return comparePositions(page.position, after) > 0 ? page.position.transactionId : undefined;
  };

  const first = await firstTransactionFrom(0n);
  if (first === undefined) return START;
  // Invariant: transaction `low` has events; no transaction from `high` on has any.
  let low = first;
  let high = low + 1n;
  for (let step = 1n; ; step *= 2n) {
    high = low + step;
    const found = await firstTransactionFrom(high);
    if (found === undefined) break;
    low = found;
  }
  while (high - low > 1n) {
    const middle: bigint = (low + high) / 2n;
    const found = await firstTransactionFrom(middle);
    if (found === undefined || found >= high) high = middle;
    else low = found;
  }
  // Transactions appended since the search are read too: the last position read is the head.
  let position: GlobalPosition = { transactionId: low, position: 0n };
  for (;;) {
    const page = await store.readAll({
      after: position,
      limit: PAGE,
      ...(signal ? { signal } : {}),
    });
    position = page.position;
    if (!page.hasMore) return position;
  }
}
