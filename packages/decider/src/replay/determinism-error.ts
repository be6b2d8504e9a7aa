import { AviaryError, ErrorCode } from '@aviary/core';
import type { RecordedEvent } from './history.ts';

/**
 * A recorded history whose decisions do not follow from its input facts: the first diverging
 * event, by its index in the history, with the recorded event and the re-derived one (either is
 * absent when one side has an event the other has not).
 */
export class DeterminismError extends AviaryError {
  override name = 'DeterminismError';
  readonly index: number;
  readonly recorded: RecordedEvent | undefined;
  readonly rederived: RecordedEvent | undefined;

  constructor(
    index: number,
    recorded: RecordedEvent | undefined,
    rederived: RecordedEvent | undefined,
    detail = '',
    options?: { cause?: unknown },
  ) {
    super(
      ErrorCode.Determinism,
      `determinism error at event ${index}: recorded ${recorded?.type ?? 'nothing'}, ` +
        `re-derived ${rederived?.type ?? 'nothing'}${detail === '' ? '' : ` (${detail})`}`,
      options,
    );
    this.index = index;
    this.recorded = recorded;
    this.rederived = rederived;
  }
}
