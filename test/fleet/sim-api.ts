/**
 * The few Kubernetes API calls the fleet harness makes to a simulated cluster, as plain HTTP:
 * what GitOps (creating and patching the target) and an operator (`kubectl get`) would do. The
 * agents talk to the same API through client-node; the harness needs no client library.
 */

/** A Kubernetes object as JSON. */
export type KubeObject = { readonly [key: string]: unknown };

/** An API answer other than the ones a call expects, with the server's `Status` message. */
export class SimApiError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, message: string) {
    super(`${method} ${path}: HTTP ${status}: ${message}`);
    this.name = 'SimApiError';
    this.status = status;
  }
}

export interface SimApi {
  /** `http://127.0.0.1:<port>` of the cluster's API server (also serving `/metrics`). */
  readonly url: string;
  /** The object at `path`, or undefined when it does not exist (404). */
  get(path: string, signal?: AbortSignal): Promise<KubeObject | undefined>;
  /** Creates `body` in the collection at `path`; an object that already exists is left alone. */
  createIfMissing(path: string, body: KubeObject, signal?: AbortSignal): Promise<void>;
  /** A strategic merge patch (what `kubectl patch` and `kubectl set image` send). */
  patch(path: string, body: KubeObject, signal?: AbortSignal): Promise<KubeObject>;
}

export function simApi(url: string): SimApi {
  const call = async (
    method: string,
    path: string,
    signal: AbortSignal | undefined,
    body?: { readonly json: KubeObject; readonly contentType: string },
  ): Promise<{ status: number; json: KubeObject | undefined }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': body.contentType }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body.json) }),
      ...(signal === undefined ? {} : { signal }),
    });
    const text = await response.text();
    const json = text === '' ? undefined : (JSON.parse(text) as KubeObject);
    return { status: response.status, json };
  };
  const fail = (method: string, path: string, status: number, json: KubeObject | undefined) =>
    new SimApiError(method, path, status, String(json?.message ?? 'unexpected answer'));

  return {
    url,
    async get(path, signal) {
      const { status, json } = await call('GET', path, signal);
      if (status === 404) return undefined;
      if (status !== 200) throw fail('GET', path, status, json);
      return json;
    },
    async createIfMissing(path, body, signal) {
      const { status, json } = await call('POST', path, signal, {
        json: body,
        contentType: 'application/json',
      });
      if (status !== 201 && status !== 200 && status !== 409) {
        throw fail('POST', path, status, json);
      }
    },
    async patch(path, body, signal) {
      const { status, json } = await call('PATCH', path, signal, {
        json: body,
        contentType: 'application/strategic-merge-patch+json',
      });
      if (status !== 200 || json === undefined) throw fail('PATCH', path, status, json);
      return json;
    },
  };
}

/** `obj.a.b.c` of a JSON object, or undefined where a step is missing. */
export function pathOf(object: unknown, ...keys: readonly (string | number)[]): unknown {
  let current: unknown = object;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
