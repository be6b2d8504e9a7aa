/**
 * The orchestrator's HTTP API as the CLI uses it (docs/http-api.md): bearer authentication, JSON
 * in and out, the API's errors turned into `CliError`s with an exit code and a next step, and the
 * server-sent event streams. The token is sent, never shown: no message here contains it.
 */
import { CliError, ExitCode } from './exit-codes.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface ClientOptions {
  readonly server: string;
  readonly token: string | undefined;
}

/** The API's error body (`{ "error": { code, message, issues? } }`). */
interface ApiErrorBody {
  readonly error?: {
    readonly code?: string;
    readonly message?: string;
    readonly issues?: readonly { readonly path: string; readonly message: string }[];
  };
}

/** One server-sent event. */
export interface SseMessage {
  readonly id?: string;
  readonly event: string;
  readonly data: string;
}

export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;

  constructor(options: ClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new CliError(
        ExitCode.Usage,
        `the server address ${JSON.stringify(options.server)} is not a URL: set AVIARY_URL or --server to e.g. ${DEFAULT_SERVER}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError(
        ExitCode.Usage,
        `the server address must be http:// or https:// (got ${url.protocol})`,
      );
    }
    this.server = url.toString().replace(/\/+$/, '');
    this.#token = options.token === '' ? undefined : options.token;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  postJson<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, {
      body: JSON.stringify(body),
      contentType: 'application/json',
    });
  }

  /** Sends a request; the answer's JSON, or a `CliError` for an error status or no server. */
  async request<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { readonly body?: string; readonly contentType?: string } = {},
  ): Promise<T> {
    const response = await this.#fetch(path, {
      method,
      headers: {
        ...this.#authorization(),
        accept: 'application/json',
        ...(options.contentType ? { 'content-type': options.contentType } : {}),
      },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(
        ExitCode.ServerError,
        `${method} ${path}: the server answered ${response.status} with something that is not JSON: is ${this.server} an Aviary orchestrator?`,
      );
    }
    if (!response.ok) throw this.#failure(method, path, response.status, body as ApiErrorBody);
    return body as T;
  }

  /**
   * Follows a server-sent event stream until `signal` aborts or the server ends it. Yields each
   * message (comments are skipped).
   */
  async *events(
    path: string,
    signal: AbortSignal,
    lastEventId?: string,
  ): AsyncGenerator<SseMessage, void, undefined> {
    const response = await this.#fetch(path, {
      method: 'GET',
      headers: {
        ...this.#authorization(),
        accept: 'text/event-stream',
        ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
      },
      signal,
    });
    if (!response.ok || response.body === null) {
      const text = await response.text();
      let body: ApiErrorBody = {};
      try {
        body = JSON.parse(text) as ApiErrorBody;
      } catch {
        // not JSON: the status says enough
      }
      throw this.#failure('GET', path, response.status, body);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    let message: { id?: string; event: string; data: string[] } = { event: 'message', data: [] };
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline !== -1) {
          const line = buffer.slice(0, newline).replace(/\r$/, '');
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line === '') {
            if (message.data.length > 0) {
              yield {
                ...(message.id === undefined ? {} : { id: message.id }),
                event: message.event,
                data: message.data.join('\n'),
              };
            }
            message = { event: 'message', data: [] };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') message.id = value;
          else if (field === 'event') message.event = value;
          else if (field === 'data') message.data.push(value);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      throw new CliError(
        ExitCode.Unavailable,
        `the event stream from ${this.server} broke (${describeCause(error)}): run the command again`,
        { cause: error },
      );
    }
  }

  #authorization(): Record<string, string> {
    if (this.#token === undefined) {
      throw new CliError(
        ExitCode.Unauthorized,
        'no token: export AVIARY_TOKEN=… (printed by npm start / aviary dev), or pass --token',
      );
    }
    return { authorization: `Bearer ${this.#token}` };
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.server}${path}`, init);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new CliError(
        ExitCode.Unavailable,
        `cannot reach the orchestrator at ${this.server} (${describeCause(error)}): start it ` +
          '(npm start, or aviary dev), or point AVIARY_URL / --server at it',
        { cause: error },
      );
    }
  }

  #failure(method: string, path: string, status: number, body: ApiErrorBody | undefined): CliError {
    const error = body?.error;
    const message = error?.message ?? `HTTP ${status}`;
    const issues = (error?.issues ?? []).map((i) => `\n  ${i.path || '(document)'}: ${i.message}`);
    const detail =
      issues.length > 0 && !message.includes('\n') ? `${message}${issues.join('')}` : message;
    switch (status) {
      case 400:
      case 413:
      case 415:
        return new CliError(ExitCode.Usage, detail);
      case 401:
        return new CliError(
          ExitCode.Unauthorized,
          `the server refused the token (${message}): export AVIARY_TOKEN=… with a token it accepts ` +
            '(npm start / aviary dev print one; a deployment reads AVIARY_API_TOKENS)',
        );
      case 403:
        return new CliError(ExitCode.Unauthorized, `${message}: use a token with that role`);
      case 404:
        return new CliError(ExitCode.NotFound, message);
      case 409:
        return new CliError(
          ExitCode.Refused,
          error?.code === 'CONCURRENCY' ? `${message}: run the command again` : message,
        );
      case 503:
        return new CliError(
          ExitCode.Unavailable,
          `${message}: the orchestrator cannot serve this now (not leading, or its log is unreachable); try again`,
        );
      default:
        return new CliError(
          ExitCode.ServerError,
          `${method} ${path}: the server answered ${status}: ${message}`,
        );
    }
  }
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
