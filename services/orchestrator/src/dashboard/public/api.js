/**
 * The dashboard's access to the orchestrator's HTTP API (docs/http-api.md): JSON requests with
 * the bearer token kept in `sessionStorage` (gone when the tab closes, never in a cookie, so no
 * request is authenticated by the browser on its own), errors as `ApiError` with the API's code
 * and message, and the server-sent event streams read through `fetch`, because `EventSource`
 * cannot send an `Authorization` header.
 */

const TOKEN_KEY = 'aviary.token';

/** @typedef {'viewer' | 'operator' | 'admin'} Role */
/** @typedef {{ name: string, role: Role }} Identity */

/** @returns {string | undefined} */
export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** @param {string} token */
export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API error: the HTTP status (0: no answer), the API's error code and its message. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** @type {(error: ApiError) => void} */
let onUnauthenticated = () => {};

/**
 * Called when the API refuses the stored token (401) on any request: the app signs out.
 * @param {(error: ApiError) => void} handler
 */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

/**
 * One JSON request to the API.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, token?: string, signal?: AbortSignal }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const token = options.token ?? storedToken();
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal ? { signal: options.signal } : {}),
      cache: 'no-store',
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, 'NETWORK', `the orchestrator cannot be reached (${describe(error)})`);
  }
  const text = await response.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) return json;
  const body = json?.error;
  const error = new ApiError(
    response.status,
    typeof body?.code === 'string' ? body.code : `HTTP_${response.status}`,
    typeof body?.message === 'string'
      ? body.message
      : `${response.status} ${response.statusText}`.trim(),
  );
  if (response.status === 401 && options.token === undefined) onUnauthenticated(error);
  throw error;
}

/** @param {unknown} error */
export function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * @typedef {{
 *   streamId: string, version: number, position: string, type: string,
 *   data: Record<string, any>, metadata: { actor?: string }, recordedAt: string
 * }} StreamedEvent
 */

/**
 * Follows a server-sent event stream of the API (`/api/v1/events` or a release's
 * `/api/v1/releases/{id}/events`) until `signal` aborts: reconnects after an end, an error or an
 * `overflow` message, with `Last-Event-ID` set to the last id received, so that no event is lost
 * or repeated. `onState` hears `live` when a connection is open, `reconnecting` between
 * connections and `refused` when the token is refused (the stream then stops).
 * @param {string} path
 * @param {{
 *   onEvent: (event: StreamedEvent, id: string | undefined) => void,
 *   onState?: (state: 'live' | 'reconnecting' | 'refused', detail?: string) => void,
 *   lastEventId?: string,
 *   signal: AbortSignal,
 * }} options
 */
export async function followEvents(path, options) {
  const { signal } = options;
  let lastEventId = options.lastEventId;
  let failures = 0;
  while (!signal.aborted) {
    const token = storedToken();
    /** @type {Record<string, string>} */
    const headers = { accept: 'text/event-stream' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    try {
      const response = await fetch(path, { headers, signal, cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json().catch(() => undefined);
        options.onState?.('refused', body?.error?.message ?? `HTTP ${response.status}`);
        return;
      }
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      failures = 0;
      options.onState?.('live');
      for await (const message of readMessages(response.body, signal)) {
        if (message.id !== undefined) lastEventId = message.id;
        if (message.event === 'overflow' || message.event === 'error') {
          const data = safeParse(message.data);
          if (typeof data?.lastEventId === 'string') lastEventId = data.lastEventId;
          break;
        }
        if (message.event === 'corrupt') continue;
        const data = safeParse(message.data);
        if (data !== undefined) options.onEvent(data, message.id);
      }
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
      console.warn(`event stream ${path}: ${describe(error)}`);
    }
    if (signal.aborted) return;
    options.onState?.('reconnecting');
    await sleep(Math.min(10_000, 500 * 2 ** Math.min(failures, 5)), signal);
  }
}

/** @param {string} text */
function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The messages of an SSE body (the `text/event-stream` format: `field: value` lines, a blank line
 * ends a message, lines starting with `:` are comments).
 * @param {ReadableStream<Uint8Array>} body
 * @param {AbortSignal} signal
 * @returns {AsyncGenerator<{ id?: string, event: string, data: string }>}
 */
export async function* readMessages(body, signal) {
  const decoder = /** @type {TransformStream<Uint8Array, string>} */ (
    /** @type {unknown} */ (new TextDecoderStream())
  );
  const reader = body.pipeThrough(decoder).getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  let buffer = '';
  /** @type {{ id?: string, event?: string, data: string[] }} */
  let message = { data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end = buffer.search(/\r\n|\r|\n/);
      while (end !== -1) {
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (buffer[end] === '\r' && end === buffer.length - 1) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer.startsWith('\r\n', end) ? end + 2 : end + 1);
        if (line === '') {
          if (message.data.length > 0) {
            yield {
              ...(message.id === undefined ? {} : { id: message.id }),
              event: message.event ?? 'message',
              data: message.data.join('\n'),
            };
          }
          message = { data: [] };
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          let value = colon === -1 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') message.data.push(value);
          else if (field === 'event') message.event = value;
          else if (field === 'id') message.id = value;
        }
        end = buffer.search(/\r\n|\r|\n/);
      }
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Every timeline entry of a release after `afterVersion`, page by page.
 * @param {string} releaseId
 * @param {number} afterVersion
 * @param {AbortSignal} [signal]
 * @returns {Promise<any[]>}
 */
export async function timelineAfter(releaseId, afterVersion, signal) {
  const entries = [];
  let after = afterVersion;
  for (;;) {
    const page = await api(
      `/api/v1/releases/${encodeURIComponent(releaseId)}/timeline?after=${after}&limit=1000`,
      signal ? { signal } : {},
    );
    entries.push(...page.entries);
    if (page.entries.length < 1000) return entries;
    after = page.entries[page.entries.length - 1].streamVersion;
  }
}
