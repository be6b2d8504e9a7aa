import { isAviaryError } from '@aviary/core';
import type { CanaryPhaseJson, WebhookCallJson } from '@aviary/proto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApplicationRef } from '../ports.ts';
import { HttpWebhookCaller, type HttpWebhookCallerOptions } from './caller.ts';
import { verifyWebhookSignature } from './signature.ts';
import { reply, selfSignedCertificate, startTestServer, type TestServer } from './test-server.ts';

const APP: ApplicationRef = { namespace: 'test', name: 'podinfo' };
const SECRET = 'a-test-signing-secret-0123456789';
const never = new AbortController().signal;

function call(url: string, patch: Partial<WebhookCallJson> = {}): WebhookCallJson {
  return {
    requestId: 'r1:eu-1:7:webhook:load-test',
    cluster: 'eu-1',
    name: 'load-test',
    type: 'WEBHOOK_TYPE_PRE_ROLLOUT',
    url,
    timeoutMs: 2_000,
    payload: {
      name: 'podinfo',
      namespace: 'test',
      phase: 'CANARY_PHASE_PROGRESSING',
      checksum: '85d557f47b',
      metadata: { cmd: 'hey -z 1m http://podinfo-canary.test:9898/', type: 'cmd' },
    },
    ...patch,
  };
}

function caller(options: Partial<HttpWebhookCallerOptions> = {}): HttpWebhookCaller {
  return new HttpWebhookCaller({
    gateOpen: () => false,
    retryBackoff: { minMs: 10, maxMs: 50 },
    ...options,
  });
}

describe('HttpWebhookCaller over HTTP', () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('POSTs the exact Flagger payload and passes on 200', async () => {
    server.handler = reply(200, 'Approved');
    const result = await caller().call(call(`${server.origin}/gate/check`), APP, never);
    expect(result).toMatchObject({
      requestId: 'r1:eu-1:7:webhook:load-test',
      cluster: 'eu-1',
      name: 'load-test',
      type: 'WEBHOOK_TYPE_PRE_ROLLOUT',
      outcome: 'WEBHOOK_OUTCOME_PASSED',
      statusCode: 200,
      message: 'HTTP 200: Approved',
    });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/gate/check');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['x-aviary-request-id']).toBe('r1:eu-1:7:webhook:load-test');
    expect(request?.headers['x-aviary-cluster']).toBe('eu-1');
    expect(request?.headers['x-aviary-webhook-type']).toBe('pre-rollout');
    expect(request?.headers['x-aviary-signature']).toBeUndefined();
    expect(request?.body).toBe(
      '{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b",' +
        '"metadata":{"cmd":"hey -z 1m http://podinfo-canary.test:9898/","type":"cmd"}}',
    );
  });

  it('maps every phase to Flagger’s name and leaves out empty metadata', async () => {
    const phases: [CanaryPhaseJson, string][] = [
      ['CANARY_PHASE_UNSPECIFIED', ''],
      ['CANARY_PHASE_WAITING', 'Waiting'],
      ['CANARY_PHASE_WAITING_PROMOTION', 'WaitingPromotion'],
      ['CANARY_PHASE_FINALISING', 'Finalising'],
      ['CANARY_PHASE_FAILED', 'Failed'],
    ];
    for (const [phase, name] of phases) {
      await caller().call(
        call(server.origin, {
          payload: { name: 'podinfo', namespace: 'test', phase },
        }),
        APP,
        never,
      );
      expect(JSON.parse(server.requests.at(-1)?.body ?? '')).toEqual({
        name: 'podinfo',
        namespace: 'test',
        phase: name,
        checksum: '',
      });
    }
  });

  it('adds Flagger’s timestamp to event webhooks, keeping eventMessage and eventType', async () => {
    await caller({ now: () => 1_700_000_000_123 }).call(
      call(server.origin, {
        type: 'WEBHOOK_TYPE_EVENT',
        payload: {
          name: 'podinfo',
          namespace: 'test',
          phase: 'CANARY_PHASE_PROGRESSING',
          checksum: 'abc',
          metadata: { eventType: 'Normal', eventMessage: 'Advance podinfo.test canary weight 10' },
        },
      }),
      APP,
      never,
    );
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({
      name: 'podinfo',
      namespace: 'test',
      phase: 'Progressing',
      checksum: 'abc',
      metadata: {
        eventMessage: 'Advance podinfo.test canary weight 10',
        eventType: 'Normal',
        timestamp: '1700000000123',
      },
    });
    expect(server.requests[0]?.headers['x-aviary-webhook-type']).toBe('event');
  });

  it('fails on 403 with the start of the body, and on 203 (Flagger: > 202 fails)', async () => {
    server.handler = reply(403, `Forbidden ${'x'.repeat(500)}`);
    const forbidden = await caller().call(call(server.origin), APP, never);
    expect(forbidden.outcome).toBe('WEBHOOK_OUTCOME_FAILED');
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.message).toBe(`HTTP 403: Forbidden ${'x'.repeat(190)}…`);
    expect(server.requests).toHaveLength(1); // a 4xx is final, retries or not

    server.handler = reply(203, 'non-authoritative');
    const nonAuthoritative = await caller().call(call(server.origin), APP, never);
    expect(nonAuthoritative).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_FAILED', statusCode: 203 });
  });

  it('caps the response body it reads', async () => {
    server.handler = reply(500, 'y'.repeat(1_000_000));
    const result = await caller({ maxResponseBytes: 1024 }).call(call(server.origin), APP, never);
    expect(result.outcome).toBe('WEBHOOK_OUTCOME_FAILED');
    expect(result.message?.length).toBeLessThan(220);
  });

  it('is an ERROR when the server is slower than timeout_ms, and says so', async () => {
    server.handler = (_req, res) => {
      setTimeout(() => res.end('late'), 1_000).unref();
    };
    const started = Date.now();
    const result = await caller().call(call(server.origin, { timeoutMs: 150 }), APP, never);
    expect(Date.now() - started).toBeLessThan(900);
    expect(result).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_ERROR' });
    expect(result.statusCode).toBeUndefined();
    expect(result.message).toBe(
      `timed out after 150 ms without a complete response calling ${server.origin}`,
    );
  });

  it('is an ERROR naming a refused connection', async () => {
    const origin = server.origin;
    await server.close();
    const result = await caller().call(call(`${origin}/hook`), APP, never);
    expect(result.outcome).toBe('WEBHOOK_OUTCOME_ERROR');
    expect(result.message).toBe(`connection refused (ECONNREFUSED) calling ${origin}`);
    server = await startTestServer();
  });

  it('retries a 5xx and passes on the second attempt, with the same body and request id', async () => {
    server.handler = (request, response, index) => {
      void request;
      response.writeHead(index === 0 ? 503 : 200);
      response.end(index === 0 ? 'busy' : 'ok');
    };
    const result = await caller().call(call(server.origin, { retries: 2 }), APP, never);
    expect(result).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_PASSED', statusCode: 200 });
    expect(result.message).toBe('HTTP 200: ok (2 attempts)');
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.body).toBe(server.requests[0]?.body);
    expect(server.requests[1]?.headers['x-aviary-request-id']).toBe(
      server.requests[0]?.headers['x-aviary-request-id'],
    );
  });

  it('gives up after 1 + retries attempts and reports the last status', async () => {
    server.handler = reply(500, 'broken');
    const result = await caller().call(call(server.origin, { retries: 2 }), APP, never);
    expect(result).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_FAILED',
      statusCode: 500,
      message: 'HTTP 500: broken (3 attempts)',
    });
    expect(server.requests).toHaveLength(3);
  });

  it('retries a timeout too', async () => {
    server.handler = (_req, res, index) => {
      if (index === 0) setTimeout(() => res.end('late'), 1_000).unref();
      else res.end('ok');
    };
    const result = await caller().call(
      call(server.origin, { timeoutMs: 100, retries: 1 }),
      APP,
      never,
    );
    expect(result).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_PASSED', statusCode: 200 });
  });

  it('signs the exact body so that the documented recipe verifies it', async () => {
    const nowMs = Date.now();
    await caller({ signingSecret: SECRET, now: () => nowMs }).call(call(server.origin), APP, never);
    const [request] = server.requests;
    const timestamp = request?.headers['x-aviary-timestamp'] as string;
    const signature = request?.headers['x-aviary-signature'] as string;
    expect(timestamp).toBe(String(Math.floor(nowMs / 1000)));
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    const body = request?.body ?? '';
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp, signature })).toEqual({
      ok: true,
    });
    // The recipe by hand: HMAC-SHA256 over "<timestamp>.<body>".
    const { createHmac } = await import('node:crypto');
    const byHand = createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex');
    expect(signature).toBe(`sha256=${byHand}`);
    // Tampering, another secret, or an old timestamp do not verify.
    expect(
      verifyWebhookSignature({ secret: SECRET, body: `${body} `, timestamp, signature }).ok,
    ).toBe(false);
    expect(verifyWebhookSignature({ secret: `${SECRET}x`, body, timestamp, signature }).ok).toBe(
      false,
    );
    expect(
      verifyWebhookSignature({
        secret: SECRET,
        body,
        timestamp,
        signature,
        nowSeconds: Number(timestamp) + 301,
      }),
    ).toEqual({ ok: false, reason: `timestamp ${timestamp} is more than 300 s from now` });
  });

  it('refuses a signing secret shorter than 16 characters', () => {
    expect(() => caller({ signingSecret: 'short' })).toThrow(/at least 16 characters, got 5/);
    expect(caller({ signingSecret: '' }).signing).toBe(false);
  });

  it('follows a 307 redirect with the POST and its body', async () => {
    server.handler = (request, response) => {
      if (request.path === '/old') {
        response.writeHead(307, { location: '/new' });
        response.end();
      } else {
        response.end('moved ok');
      }
    };
    const result = await caller().call(call(`${server.origin}/old`), APP, never);
    expect(result).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_PASSED',
      message: 'HTTP 200: moved ok',
    });
    expect(server.requests.map((r) => `${r.method} ${r.path} ${r.body.length > 0}`)).toEqual([
      'POST /old true',
      'POST /new true',
    ]);
  });

  it('never puts credentials, query or the echoed URL in the message', async () => {
    server.handler = (request, response) => {
      response.writeHead(401);
      response.end(`denied for ${request.path}`);
    };
    const url = `${server.origin.replace('//', '//user:hunter2@')}/hook?token=s3cr3t`;
    const result = await caller().call(call(url), APP, never);
    expect(result.outcome).toBe('WEBHOOK_OUTCOME_FAILED');
    expect(result.message).not.toContain('s3cr3t');
    expect(result.message).not.toContain('hunter2');
  });

  it('throws ABORTED (and only then) when the signal aborts', async () => {
    server.handler = (_req, res) => {
      setTimeout(() => res.end('late'), 2_000).unref();
    };
    const controller = new AbortController();
    const pending = caller().call(call(server.origin), APP, controller.signal);
    setTimeout(() => controller.abort(new Error('stopping')), 50);
    const error = await pending.catch((e: unknown) => e);
    expect(isAviaryError(error, 'ABORTED')).toBe(true);
  });
});

describe('HttpWebhookCaller: gates and URLs', () => {
  it('passes an open aviary-gate and fails a closed one, without HTTP', async () => {
    const asked: string[] = [];
    const gates = caller({
      gateOpen: (application, gate) => {
        asked.push(`${application.namespace}/${application.name}:${gate}`);
        return gate === 'approve';
      },
    });
    const open = await gates.call(call('aviary-gate:approve'), APP, never);
    expect(open).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_PASSED',
      message: 'gate approve is open',
    });
    expect(open.statusCode).toBeUndefined();
    const closed = await gates.call(call('aviary-gate:promote-eu'), APP, never);
    expect(closed).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_FAILED',
      message: 'gate promote-eu is closed',
    });
    expect(asked).toEqual(['test/podinfo:approve', 'test/podinfo:promote-eu']);
  });

  it('is an ERROR for an invalid gate name, and when the gate cannot be read', async () => {
    const invalid = await caller().call(call('aviary-gate:Not_A_Label'), APP, never);
    expect(invalid.outcome).toBe('WEBHOOK_OUTCOME_ERROR');
    expect(invalid.message).toMatch(/^invalid gate name "Not_A_Label" in aviary-gate:<gate>/);
    const broken = await caller({
      gateOpen: () => {
        throw new Error('projection not ready');
      },
    }).call(call('aviary-gate:approve'), APP, never);
    expect(broken).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_ERROR',
      message: 'gate approve could not be read: projection not ready',
    });
  });

  it('is an ERROR for a bad scheme, a relative URL or no URL', async () => {
    const ftp = await caller().call(call('ftp://files.example/hook'), APP, never);
    expect(ftp).toMatchObject({
      outcome: 'WEBHOOK_OUTCOME_ERROR',
      message:
        'unsupported webhook url scheme "ftp:": only http:, https: and aviary-gate:<gate> are called',
    });
    const relative = await caller().call(call('/gate/check'), APP, never);
    expect(relative.message).toBe('the webhook url is not an absolute URL');
    const none = await caller().call(call(''), APP, never);
    expect(none.message).toBe('the webhook has no url');
  });
});

const certificate = selfSignedCertificate();

describe.skipIf(certificate === undefined)('HttpWebhookCaller over HTTPS (openssl)', () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer(reply(200, 'secure ok'), certificate);
  });
  afterEach(async () => {
    await server.close();
  });

  it('refuses a self-signed certificate, without retrying, unless disable_tls', async () => {
    const verified = await caller().call(call(server.origin, { retries: 2 }), APP, never);
    expect(verified.outcome).toBe('WEBHOOK_OUTCOME_ERROR');
    expect(verified.message).toMatch(/^TLS error DEPTH_ZERO_SELF_SIGNED_CERT/);
    expect(server.requests).toHaveLength(0);

    const insecure = await caller().call(call(server.origin, { disableTls: true }), APP, never);
    expect(insecure).toMatchObject({ outcome: 'WEBHOOK_OUTCOME_PASSED', statusCode: 200 });

    // The skip was scoped to that one call: the next verified call still refuses.
    const again = await caller().call(call(server.origin), APP, never);
    expect(again.outcome).toBe('WEBHOOK_OUTCOME_ERROR');
  });
});
