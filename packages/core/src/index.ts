export { abortedError, throwIfAborted } from './abort.ts';
export {
  AviaryError,
  ConcurrencyError,
  ErrorCode,
  formatIssues,
  isAviaryError,
  ValidationError,
  type ValidationIssue,
} from './errors.ts';
export { formatGoDurationMs, type GoDurationParse, parseGoDurationMs } from './go-duration.ts';
