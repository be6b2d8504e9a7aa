import { request as httpRequest } from 'node:http';
import { AviaryError, ConcurrencyError, ErrorCode, ValidationError } from '@aviary/core';
import { type EventStore, openPGliteEventStore } from '@aviary/event-store';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiToken } from './auth.ts';
import { type ApiServer, createApiServer } from './server.ts';
import {
  FakeOperations,
  FakeReadModel,
  type LogLine,
  recordingLogger,
  releaseView,
} from './test-fakes.ts';

const TOKENS: ApiToken[] = [
  { name: 'vera', role: 'viewer', token: 'viewer-token-0123456789' },
  { name: 'otto', role: 'operator', token: 'operator-token-0123456789' },
  { name: 'ada', role: 'admin', token: 'admin-token-0123456789' },
];
const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const ADMIN = 'admin-token-0123456789';

let store: EventStore;
beforeAll(async () => {
  store = await openPGliteEventStore();
});
afterAll(async () => {
  await store.close();
});

let server: ApiServer;
let base: string;
let operations: FakeOperations;
let readModel: FakeReadModel;
let logger: ReturnType<typeof recordingLogger>;
let ready: boolean;

beforeEach(async () => {
  operations = new FakeOperations();
  readModel = new FakeReadModel();
  logger = recordingLogger();
  ready = false;
  server = createApiServer({
    operations,
    readModel,
    store,
    tokens: TOKENS,
    logger,
    maxBodyBytes: 4096,
    ready: () => ready,
  });
  base = (await server.listen(0)).url;
});
afterEach(async () => {
  await server.close();
});

/** A reply's JSON: `error` on errors, anything else on success (read by the assertions). */
interface Body {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly { readonly path: string; readonly message: string }[];
  };
  readonly [key: string]: unknown;
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Body;
}

async function call(
  method: string,
  path: string,
  options: {
    readonly token?: string;
    readonly json?: unknown;
    readonly body?: string;
    readonly contentType?: string;
    readonly headers?: Record<string, string>;
  } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (options.contentType) headers['content-type'] = options.contentType;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** A request with a chunked body of `size` bytes (no Content-Length), through node:http. */
function chunkedPost(
  path: string,
  size: number,
): Promise<{ status: number; body: Body; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/yaml' },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          connection: res.headers.connection,
        }),
      );
    });
    req.on('error', reject);
    for (let sent = 0; sent < size; sent += 1024) req.write('x'.repeat(1024));
    req.end();
  });
}

const accessLines = (): LogLine[] => logger.lines.filter((l) => l.msg === 'http request');

async function waitForAccessLine(): Promise<LogLine> {
  for (let i = 0; i < 100; i++) {
    const line = accessLines().at(-1);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no access log line');
}

describe('health', () => {
  it('answers /healthz without a token', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('answers /readyz 503 until ready, then 200', async () => {
    expect(await call('GET', '/readyz')).toMatchObject({
      status: 503,
      body: { status: 'not ready' },
    });
    ready = true;
    expect(await call('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
  });
});

describe('authentication and roles', () => {
  it('answers 401 with WWW-Authenticate without a token', async () => {
    const reply = await call('GET', '/api/v1/applications');
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="aviary"');
    expect(reply.body.error).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'this needs a bearer token: send Authorization: Bearer <token>',
    });
  });

  it.each([
    ['an unknown token', 'Bearer nobody-knows-this-token'],
    ['a token with its last character changed', `Bearer ${VIEWER.slice(0, -1)}X`],
    ['a prefix of a token', `Bearer ${VIEWER.slice(0, -1)}`],
    ['a token with more after it', `Bearer ${VIEWER}0`],
  ])('answers 401 invalid_token for %s', async (_, header) => {
    const reply = await call('GET', '/api/v1/applications', { headers: { authorization: header } });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe(
      'Bearer realm="aviary", error="invalid_token"',
    );
    expect(reply.body.error.message).toBe('the bearer token is not valid');
  });

  it('answers 401 to another scheme', async () => {
    const reply = await call('GET', '/api/v1/applications', {
      headers: { authorization: `Basic ${Buffer.from(`x:${VIEWER}`).toString('base64')}` },
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error.message).toBe('the Authorization header must be Bearer <token>');
  });

  it('authenticates before routing under /api/', async () => {
    expect((await call('GET', '/api/v1/nothing-here')).status).toBe(401);
    expect((await call('GET', '/api/v1/nothing-here', { token: VIEWER })).status).toBe(404);
  });

  it('lets each role do what its role and the lesser ones may', async () => {
    readModel.releaseViews = [releaseView('r1')];
    const action = { action: 'pause' };
    for (const token of [VIEWER, OPERATOR, ADMIN]) {
      expect((await call('GET', '/api/v1/releases/r1', { token })).status).toBe(200);
    }
    const viewer = await call('POST', '/api/v1/releases/r1/actions', {
      token: VIEWER,
      json: action,
    });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error).toEqual({
      code: 'FORBIDDEN',
      message:
        'POST /api/v1/releases/r1/actions needs the operator role; token vera has the viewer role',
    });
    expect(
      (await call('POST', '/api/v1/releases/r1/actions', { token: OPERATOR, json: action })).status,
    ).toBe(202);
    expect(
      (await call('POST', '/api/v1/releases/r1/actions', { token: ADMIN, json: action })).status,
    ).toBe(202);
    expect(operations.calls.map((c) => ('actor' in c ? c.actor : undefined))).toEqual([
      { name: 'otto', role: 'operator' },
      { name: 'ada', role: 'admin' },
    ]);
    expect(operations.calls).toHaveLength(2);
  });

  it('never writes a token to the log, and logs the token’s name', async () => {
    readModel.releaseViews = [releaseView('r1')];
    await call('GET', '/api/v1/releases/r1', { token: VIEWER });
    await call('GET', '/api/v1/releases/r1', { token: 'wrong-token-0123456789' });
    operations.failWith = new Error(`boom with ${OPERATOR}`);
    await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action: 'abort' },
    });
    await waitForAccessLine();
    const logged = JSON.stringify(logger.lines.map((l) => ({ ...l.obj, msg: l.msg })));
    expect(logged).not.toContain(VIEWER);
    expect(logged).not.toContain('wrong-token-0123456789');
    expect(accessLines().map((l) => l.obj.actor)).toContain('vera');
  });
});

describe('access log', () => {
  it('writes one line per request with method, path, status, duration and actor', async () => {
    readModel.clusterViews = [];
    await call('GET', '/api/v1/clusters?', { token: VIEWER });
    const line = await waitForAccessLine();
    expect(line.level).toBe('info');
    expect(line.obj).toMatchObject({
      method: 'GET',
      path: '/api/v1/clusters',
      status: 200,
      actor: 'vera',
    });
    expect(typeof line.obj.ms).toBe('number');
    expect(typeof line.obj.requestId).toBe('string');
  });
});

describe('routing', () => {
  it('answers 404 to an unknown path', async () => {
    const reply = await call('GET', '/nowhere');
    expect(reply).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no route /nowhere' } },
    });
  });

  it('answers 405 with Allow to a method a path does not take', async () => {
    const reply = await call('DELETE', '/api/v1/applications', { token: ADMIN });
    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe('GET, POST');
    expect(reply.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect((await call('POST', '/api/v1/releases/r1', { token: ADMIN })).headers.get('allow')).toBe(
      'GET',
    );
  });

  it('rejects a malformed percent-encoding', async () => {
    const reply = await call('GET', '/api/v1/releases/%E0%A4%A', { token: VIEWER });
    expect(reply.status).toBe(400);
    expect(reply.body.error.issues).toEqual([
      { path: 'path', message: 'segment "%E0%A4%A" is not valid percent-encoding' },
    ]);
  });
});

describe('viewer routes', () => {
  const app = {
    namespace: 'shop',
    name: 'checkout',
    specHash: 'sha256:abc',
    spec: { kind: 'Rollout' },
    appliedBy: 'otto',
    appliedAt: '2026-01-01T00:00:00.000Z',
    gates: {},
  };

  it('lists and gets applications', async () => {
    readModel.applicationViews = [app];
    expect(await call('GET', '/api/v1/applications', { token: VIEWER })).toMatchObject({
      status: 200,
      body: { applications: [app] },
    });
    expect(
      await call('GET', '/api/v1/applications/shop/checkout', { token: VIEWER }),
    ).toMatchObject({ status: 200, body: app });
    expect(await call('GET', '/api/v1/applications/shop/cart', { token: VIEWER })).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'application shop/cart not found' } },
    });
  });

  it('validates path parameters as DNS labels and release ids', async () => {
    const upper = await call('GET', '/api/v1/applications/Shop/checkout', { token: VIEWER });
    expect(upper.status).toBe(400);
    expect(upper.body.error.issues).toEqual([
      {
        path: 'namespace',
        message:
          'must be a DNS-1123 label: lower-case letters, digits and \'-\', starting and ending with a letter or digit (got "Shop")',
      },
    ]);
    const long = await call('GET', `/api/v1/applications/shop/${'a'.repeat(64)}`, {
      token: VIEWER,
    });
    expect(long.body.error.issues).toEqual([
      { path: 'name', message: 'must be at most 63 characters (got 64)' },
    ]);
    const release = await call('GET', '/api/v1/releases/R_1', { token: VIEWER });
    expect(release.status).toBe(400);
    expect(release.body.error.message).toBe(
      "path: id: must be lower-case letters, digits, '.' and '-' (got \"R_1\")",
    );
    const longId = await call('GET', `/api/v1/releases/${'r'.repeat(254)}`, { token: VIEWER });
    expect(longId.body.error.issues).toEqual([
      { path: 'id', message: 'must be at most 253 characters (got 254)' },
    ]);
  });

  it('lists releases with a filter', async () => {
    readModel.releaseViews = [releaseView('r1'), releaseView('r2')];
    const reply = await call(
      'GET',
      '/api/v1/releases?application=shop/checkout&active=true&limit=1',
      { token: VIEWER },
    );
    expect(reply).toMatchObject({ status: 200, body: { releases: [{ releaseId: 'r1' }] } });
    expect(readModel.queries).toEqual([
      {
        method: 'releases',
        args: { application: { namespace: 'shop', name: 'checkout' }, active: true, limit: 1 },
      },
    ]);
    await call('GET', '/api/v1/releases', { token: VIEWER });
    expect(readModel.queries[1]).toEqual({ method: 'releases', args: {} });
  });

  it.each([
    ['limit=0', { path: 'limit', message: 'must be at least 1' }],
    ['limit=1001', { path: 'limit', message: 'must be at most 1000' }],
    ['limit=ten', { path: 'limit', message: 'must be a whole number' }],
    ['active=yes', { path: 'active', message: 'must be one of true, false' }],
    [
      'application=shop',
      { path: 'application', message: 'must be <namespace>/<name> (got "shop")' },
    ],
    [
      'application=shop/Cart',
      {
        path: 'application',
        message:
          'name must be a DNS-1123 label: lower-case letters, digits and \'-\', starting and ending with a letter or digit (got "Cart")',
      },
    ],
    ['sort=name', { path: 'sort', message: 'is not a known query parameter' }],
    ['limit=1&limit=2', { path: 'limit', message: 'is given more than once' }],
  ])('rejects the query %s', async (query, issue) => {
    const reply = await call('GET', `/api/v1/releases?${query}`, { token: VIEWER });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION');
    expect(reply.body.error.issues).toEqual([issue]);
  });

  it('gets a release, its canaries and its timeline; 404 for an unknown release', async () => {
    readModel.releaseViews = [releaseView('r1')];
    readModel.canaryViews = [
      {
        releaseId: 'r1',
        cluster: 'eu-1',
        phase: 'CANARY_PHASE_PROGRESSING',
        canaryWeightPercent: 20,
        primaryWeightPercent: 80,
        failedChecks: 0,
        iterations: 0,
        paused: false,
        skipped: false,
        updatedAt: '2026-01-01T00:00:00.000Z',
      },
    ];
    readModel.timelineEntries = [1, 2, 3].map((v) => ({
      position: `9:${v}`,
      streamVersion: v,
      type: 'TickRecorded',
      summary: `tick ${v}`,
      data: {},
      recordedAt: '2026-01-01T00:00:00.000Z',
    }));
    expect((await call('GET', '/api/v1/releases/r1', { token: VIEWER })).body.releaseId).toBe('r1');
    expect(
      (await call('GET', '/api/v1/releases/r1/canaries', { token: VIEWER })).body.canaries,
    ).toHaveLength(1);
    const timeline = await call('GET', '/api/v1/releases/r1/timeline?after=1&limit=1', {
      token: VIEWER,
    });
    expect(
      (timeline.body.entries as { streamVersion: number }[]).map((e) => e.streamVersion),
    ).toEqual([2]);
    expect(readModel.queries.at(-1)).toEqual({
      method: 'timeline',
      args: { releaseId: 'r1', afterVersion: 1, limit: 1 },
    });
    for (const path of ['/api/v1/releases/r9', '/api/v1/releases/r9/canaries']) {
      expect(await call('GET', path, { token: VIEWER })).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'release r9 not found' } },
      });
    }
    expect((await call('GET', '/api/v1/releases/r9/timeline', { token: VIEWER })).status).toBe(404);
    expect(
      (await call('GET', '/api/v1/releases/r1/timeline?after=-1', { token: VIEWER })).body.error
        .issues,
    ).toEqual([{ path: 'after', message: 'must be a whole number' }]);
  });

  it('lists clusters', async () => {
    readModel.clusterViews = [
      {
        name: 'eu-1',
        labels: { region: 'eu' },
        agentVersion: '0.1.0',
        leaseMs: 30_000,
        lastHeartbeatAt: '2026-01-01T00:00:00.000Z',
      },
    ];
    expect((await call('GET', '/api/v1/clusters', { token: VIEWER })).body.clusters).toEqual(
      readModel.clusterViews,
    );
  });
});

describe('POST /api/v1/applications', () => {
  const yaml = 'apiVersion: aviary.dev/v1\nkind: Rollout\nmetadata:\n  name: checkout\n';

  it('applies a YAML spec: 201 with Location when it changed', async () => {
    const reply = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: yaml,
      contentType: 'application/yaml; charset=utf-8',
    });
    expect(reply.status).toBe(201);
    expect(reply.headers.get('location')).toBe('/api/v1/applications/shop/checkout');
    expect(reply.body).toEqual(operations.applyResult);
    expect(operations.calls).toEqual([
      { op: 'applySpec', document: yaml, actor: { name: 'otto', role: 'operator' } },
    ]);
  });

  it('answers 200 when the spec was already in force, and accepts text/yaml and JSON', async () => {
    operations.applyResult = { ...operations.applyResult, changed: false };
    for (const contentType of ['text/yaml', 'application/json']) {
      const reply = await call('POST', '/api/v1/applications', {
        token: OPERATOR,
        body: contentType === 'application/json' ? '{"kind":"Rollout"}' : yaml,
        contentType,
      });
      expect(reply.status).toBe(200);
      expect(reply.body.changed).toBe(false);
    }
  });

  it('answers 415 to another or a missing content type, or another charset', async () => {
    const plain = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: yaml,
      contentType: 'text/plain',
    });
    expect(plain.status).toBe(415);
    expect(plain.body.error).toEqual({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message:
        'Content-Type text/plain is not supported here: send one of application/yaml, text/yaml, application/json',
    });
    const latin = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: yaml,
      contentType: 'application/yaml; charset=latin1',
    });
    expect(latin.body.error.message).toBe('charset latin1 is not supported: send UTF-8');
    const none = await fetch(`${base}/api/v1/applications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}` },
      body: new Uint8Array(Buffer.from(yaml)),
    });
    expect(none.status).toBe(415);
    expect(operations.calls).toEqual([]);
  });

  it('answers 400 to an empty body or one that is not UTF-8', async () => {
    const empty = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: '  \n',
      contentType: 'application/yaml',
    });
    expect(empty.status).toBe(400);
    expect(empty.body.error.issues).toEqual([
      { path: 'body', message: 'is empty: send a Rollout (or Flagger Canary) document' },
    ]);
    const binary = await fetch(`${base}/api/v1/applications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/yaml' },
      body: new Uint8Array([0x6b, 0x3a, 0xff, 0xfe]),
    });
    expect(binary.status).toBe(400);
    expect(((await binary.json()) as Body).error.issues).toEqual([
      { path: 'body', message: 'is not valid UTF-8' },
    ]);
  });

  it('answers 413 to a body over the limit, announced or chunked', async () => {
    const announced = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: 'x'.repeat(5000),
      contentType: 'application/yaml',
    });
    expect(announced.status).toBe(413);
    expect(announced.body.error).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
      message: 'the request body is larger than 4096 bytes',
    });
    const chunked = await chunkedPost('/api/v1/applications', 64 * 1024);
    expect(chunked.status).toBe(413);
    expect(chunked.connection).toBe('close');
    expect(operations.calls).toEqual([]);
    // Exactly the limit is fine.
    const atLimit = await call('POST', '/api/v1/applications', {
      token: OPERATOR,
      body: 'x'.repeat(4096),
      contentType: 'application/yaml',
    });
    expect(atLimit.status).toBe(201);
  });
});

describe('POST /api/v1/releases/{id}/actions', () => {
  it.each([
    ['pause', 'OPERATOR_ACTION_PAUSE'],
    ['resume', 'OPERATOR_ACTION_RESUME'],
    ['promote', 'OPERATOR_ACTION_PROMOTE'],
    ['abort', 'OPERATOR_ACTION_ABORT'],
    ['rollback', 'OPERATOR_ACTION_ROLLBACK'],
    ['retry', 'OPERATOR_ACTION_RETRY'],
    ['skip', 'OPERATOR_ACTION_SKIP_CLUSTER'],
    ['requeue', 'OPERATOR_ACTION_REQUEUE_CLUSTER'],
  ])('maps %s to %s', async (action, proto) => {
    const reply = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action, cluster: 'eu-1', reason: 'because' },
    });
    expect(reply).toMatchObject({ status: 202, body: { releaseId: 'r1' } });
    expect(operations.calls).toEqual([
      {
        op: 'operatorAction',
        input: { releaseId: 'r1', action: proto, cluster: 'eu-1', reason: 'because' },
        actor: { name: 'otto', role: 'operator' },
      },
    ]);
  });

  it('halts and resumes the whole fleet: pause and resume without a cluster', async () => {
    await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action: 'pause' },
    });
    await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action: 'resume', reason: '' },
    });
    expect(operations.calls.map((c) => (c.op === 'operatorAction' ? c.input : undefined))).toEqual([
      { releaseId: 'r1', action: 'OPERATOR_ACTION_PAUSE' },
      { releaseId: 'r1', action: 'OPERATOR_ACTION_RESUME' },
    ]);
  });

  it.each([
    [
      { action: 'halt' },
      [
        {
          path: 'action',
          message: 'must be one of pause, resume, promote, abort, rollback, retry, skip, requeue',
        },
      ],
    ],
    [{}, [{ path: 'action', message: 'is required' }]],
    [{ action: 'skip' }, [{ path: 'cluster', message: 'is required for skip' }]],
    [{ action: 'requeue' }, [{ path: 'cluster', message: 'is required for requeue' }]],
    [
      { action: 'pause', cluster: 7 },
      [{ path: 'cluster', message: 'must be a string (got number)' }],
    ],
    [
      { action: 'pause', cluster: 'EU_1' },
      [
        {
          path: 'cluster',
          message:
            'must be a DNS-1123 label: lower-case letters, digits and \'-\', starting and ending with a letter or digit (got "EU_1")',
        },
      ],
    ],
    [
      { action: 'pause', reason: 'x'.repeat(1025) },
      [{ path: 'reason', message: 'must be at most 1024 characters long' }],
    ],
    [{ action: 'pause', force: true }, [{ path: 'force', message: 'is not a known field' }]],
    [[], [{ path: '', message: 'must be an object (got an array)' }]],
  ])('rejects the body %#', async (json, issues) => {
    const reply = await call('POST', '/api/v1/releases/r1/actions', { token: OPERATOR, json });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('VALIDATION');
    expect(reply.body.error.issues).toEqual(issues);
    expect(operations.calls).toEqual([]);
  });

  it('says where malformed JSON stops being JSON', async () => {
    const reply = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      body: '{"action": "pause",\n "reason": }',
      contentType: 'application/json',
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toEqual({
      code: 'VALIDATION',
      message:
        'request body: is not valid JSON at line 2, column 12 (position 31): expected a value',
      issues: [
        {
          path: 'body',
          message: 'is not valid JSON at line 2, column 12 (position 31): expected a value',
        },
      ],
    });
  });

  it('needs a JSON body', async () => {
    const yaml = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      body: 'action: pause',
      contentType: 'application/yaml',
    });
    expect(yaml.status).toBe(415);
    const empty = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      body: '',
      contentType: 'application/json',
    });
    expect(empty.body.error.issues).toEqual([
      { path: 'body', message: 'is empty: send a JSON object' },
    ]);
  });
});

describe('POST /api/v1/releases/{id}/retry', () => {
  it('starts a new release: 201 with its id and Location', async () => {
    const reply = await call('POST', '/api/v1/releases/r1/retry', { token: OPERATOR });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({ releaseId: 'r1.retry-1' });
    expect(reply.headers.get('location')).toBe('/api/v1/releases/r1.retry-1');
    await call('POST', '/api/v1/releases/r1/retry', {
      token: OPERATOR,
      json: { reason: 'fixed the config map' },
    });
    expect(operations.calls).toEqual([
      {
        op: 'retryRelease',
        releaseId: 'r1',
        actor: { name: 'otto', role: 'operator' },
        reason: undefined,
      },
      {
        op: 'retryRelease',
        releaseId: 'r1',
        actor: { name: 'otto', role: 'operator' },
        reason: 'fixed the config map',
      },
    ]);
  });
});

describe('gates', () => {
  const gate = '/api/v1/applications/shop/checkout/gates/confirm-promotion';

  it('opens and closes a gate; the check answers 200 open and 403 closed', async () => {
    expect(await call('GET', gate, { token: VIEWER })).toMatchObject({
      status: 403,
      body: { open: false },
    });
    const opened = await call('POST', `${gate}/open`, {
      token: OPERATOR,
      json: { reason: 'checked by hand' },
    });
    expect(opened).toMatchObject({
      status: 200,
      body: { namespace: 'shop', name: 'checkout', gate: 'confirm-promotion', open: true },
    });
    expect(await call('GET', gate, { token: VIEWER })).toMatchObject({
      status: 200,
      body: { open: true },
    });
    expect((await call('POST', `${gate}/close`, { token: OPERATOR })).status).toBe(200);
    expect((await call('GET', gate, { token: VIEWER })).status).toBe(403);
    expect(operations.calls).toEqual([
      {
        op: 'setGate',
        application: { namespace: 'shop', name: 'checkout' },
        gate: 'confirm-promotion',
        open: true,
        actor: { name: 'otto', role: 'operator' },
        reason: 'checked by hand',
      },
      {
        op: 'setGate',
        application: { namespace: 'shop', name: 'checkout' },
        gate: 'confirm-promotion',
        open: false,
        actor: { name: 'otto', role: 'operator' },
        reason: undefined,
      },
    ]);
  });

  it('needs the operator role to change a gate, and a valid gate name', async () => {
    expect((await call('POST', `${gate}/open`, { token: VIEWER })).status).toBe(403);
    const bad = await call('POST', '/api/v1/applications/shop/checkout/gates/Gate!/open', {
      token: OPERATOR,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues?.[0]?.path).toBe('gate');
    const extra = await call('POST', `${gate}/open`, { token: OPERATOR, json: { open: true } });
    expect(extra.body.error.issues).toEqual([{ path: 'open', message: 'is not a known field' }]);
  });
});

describe('error mapping', () => {
  it.each([
    [
      new ValidationError('rollout', [{ path: 'spec.analysis.interval', message: 'is required' }]),
      400,
      {
        code: 'VALIDATION',
        message: 'rollout: spec.analysis.interval: is required',
        issues: [{ path: 'spec.analysis.interval', message: 'is required' }],
      },
    ],
    [
      new AviaryError(ErrorCode.Validation, 'bad input'),
      400,
      { code: 'VALIDATION', message: 'bad input' },
    ],
    [
      new AviaryError(ErrorCode.NotFound, 'release r1 not found'),
      404,
      { code: 'NOT_FOUND', message: 'release r1 not found' },
    ],
    [
      new AviaryError(ErrorCode.Refused, 'release r1 is finished'),
      409,
      { code: 'REFUSED', message: 'release r1 is finished' },
    ],
    [
      new ConcurrencyError('release-r1', 3n, 4n),
      409,
      {
        code: 'CONCURRENCY',
        message:
          'stream release-r1 is at version 4, append expected 3: reload the stream and decide again',
      },
    ],
    [
      new AviaryError(
        ErrorCode.Unavailable,
        'cannot reach postgres://aviary:s3cret@db:5432/aviary',
      ),
      503,
      { code: 'UNAVAILABLE', message: expect.not.stringContaining('s3cret') },
    ],
  ])('maps %s', async (error, status, body) => {
    operations.failWith = error;
    const reply = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action: 'promote' },
    });
    expect(reply.status).toBe(status);
    expect(reply.body.error).toEqual(body);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it.each([
    new Error('the database said something internal'),
    new AviaryError(ErrorCode.CorruptEvent, 'row 7 is corrupt'),
  ])('answers 500 with a generic message to %s, and logs it', async (error) => {
    operations.failWith = error;
    const reply = await call('POST', '/api/v1/releases/r1/actions', {
      token: OPERATOR,
      json: { action: 'promote' },
    });
    expect(reply.status).toBe(500);
    const requestId = reply.headers.get('x-request-id');
    expect(reply.body.error).toEqual({
      code: 'INTERNAL',
      message: `internal error; the orchestrator's log has its details under request id ${requestId}`,
    });
    const logged = logger.lines.find((l) => l.level === 'error');
    expect(logged?.obj).toMatchObject({ err: error, requestId, actor: 'otto' });
  });
});
