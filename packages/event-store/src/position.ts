import { ValidationError } from '@aviary/core';

/**
 * A place in the log's global order: the id of the transaction that appended the event, then the
 * event's position. Positions are drawn in insertion order but become visible at commit, so the
 * position alone is not a safe cursor; the pair, read below the oldest running transaction, is.
 */
export interface GlobalPosition {
  readonly transactionId: bigint;
  readonly position: bigint;
}

/** Before the first event. */
export const START: GlobalPosition = Object.freeze({ transactionId: 0n, position: 0n });

export function comparePositions(a: GlobalPosition, b: GlobalPosition): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return 0;
}

/** `"<transaction id>:<position>"`, the form used in checkpoints, logs and APIs. */
export function formatPosition(p: GlobalPosition): string {
  return `${p.transactionId}:${p.position}`;
}

export function parsePosition(text: string): GlobalPosition {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(text);
  if (!match?.[1] || !match[2]) {
    throw new ValidationError('position', [
      { path: '', message: `"${text}" is not a position (expected "<transaction id>:<position>")` },
    ]);
  }
  return { transactionId: BigInt(match[1]), position: BigInt(match[2]) };
}
