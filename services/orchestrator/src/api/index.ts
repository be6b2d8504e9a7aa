/**
 * The orchestrator's HTTP API: read models, operator actions, gates and live event streams over
 * `node:http`, authenticated with bearer tokens. See `docs/http-api.md`.
 */
export {
  type ApiToken,
  type Authentication,
  type Authenticator,
  createAuthenticator,
  MIN_TOKEN_LENGTH,
  parseApiTokens,
  ROLES,
  roleAtLeast,
} from './auth.ts';
export { DEFAULT_MAX_BODY_BYTES } from './body.ts';
export type { StreamedEvent } from './event-streams.ts';
export { type ErrorBody, HttpErrorCode } from './http-errors.ts';
export { findLogHead } from './log-head.ts';
export { SPEC_MEDIA_TYPES } from './routes.ts';
export {
  type ApiAddress,
  type ApiLogger,
  type ApiServer,
  type ApiServerOptions,
  createApiServer,
} from './server.ts';
export { DEFAULT_SSE_OPTIONS, type SseOptions } from './sse.ts';
export { type ActionName, OPERATOR_ACTIONS } from './validation.ts';
