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
