/**
 * Go duration strings (`30s`, `1m`, `1h30m`), as Flagger's `interval`, `timeout` and `bake` take
 * them, in exact integer milliseconds: the parser lives in `@aviary/core` (the simulator reads the
 * same syntax); the spec uses it under these names.
 */
export {
  formatGoDurationMs as formatDurationMs,
  type GoDurationParse as DurationParse,
  parseGoDurationMs as parseDurationMs,
} from '@aviary/core';
