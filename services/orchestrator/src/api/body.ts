/**
 * Request bodies: media type checks (415), a size limit enforced while reading (413, and early
 * from `Content-Length`), strict UTF-8 decoding, and JSON parsing that reports where malformed
 * JSON stops being JSON.
 */
import type { IncomingMessage } from 'node:http';
import { badRequest, HttpError, HttpErrorCode } from './http-errors.ts';
import { findJsonSyntaxError } from './json-error.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The media type of a request (lower case, without parameters), or undefined without a header. */
export function mediaType(req: IncomingMessage): string | undefined {
  const header = req.headers['content-type'];
  if (header === undefined) return undefined;
  return header.split(';')[0]?.trim().toLowerCase();
}

/**
 * Throws 415 unless the request's media type is one of `accepted`, and its charset, when given,
 * is UTF-8.
 */
export function requireMediaType(req: IncomingMessage, accepted: readonly string[]): string {
  const type = mediaType(req);
  const list = accepted.join(', ');
  if (type === undefined || type === '') {
    throw new HttpError(
      415,
      HttpErrorCode.UnsupportedMediaType,
      `Content-Type is missing: send one of ${list}`,
    );
  }
  if (!accepted.includes(type)) {
    throw new HttpError(
      415,
      HttpErrorCode.UnsupportedMediaType,
      `Content-Type ${type} is not supported here: send one of ${list}`,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new HttpError(
      415,
      HttpErrorCode.UnsupportedMediaType,
      `charset ${charset} is not supported: send UTF-8`,
    );
  }
  return type;
}

/** True when the request announces a body (a non-zero `Content-Length`, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length.trim() !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    HttpErrorCode.PayloadTooLarge,
    `the request body is larger than ${maxBytes} bytes`,
    // The rest of the body is not read: the connection cannot be reused.
    { headers: { connection: 'close' } },
  );
}

/**
 * Reads the whole body as UTF-8 text, at most `maxBytes` of it. Throws 413 as soon as the limit is
 * passed (or announced by `Content-Length`), 400 when the bytes are not UTF-8.
 */
export async function readTextBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const announced = Number(req.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Buffer.concat(chunks, total),
    );
  } catch {
    throw badRequest('body', 'is not valid UTF-8');
  }
}

/** Parses JSON text; throws 400 naming the line, column and offset of the first syntax error. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const problem = findJsonSyntaxError(text);
    const where = problem
      ? `at line ${problem.line}, column ${problem.column} (position ${problem.position}): ${problem.reason}`
      : `(${error instanceof Error ? error.message : String(error)})`;
    throw badRequest('body', `is not valid JSON ${where}`);
  }
}

/**
 * The JSON body of a request whose body is optional: `undefined` without one; otherwise it must
 * be `application/json`.
 */
export async function readOptionalJsonBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  requireMediaType(req, ['application/json']);
  const text = await readTextBody(req, maxBytes);
  if (text.trim() === '') return undefined;
  return parseJson(text);
}

/** The JSON body of a request that must have one (`application/json`). */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  requireMediaType(req, ['application/json']);
  const text = await readTextBody(req, maxBytes);
  if (text.trim() === '') throw badRequest('body', 'is empty: send a JSON object');
  return parseJson(text);
}
