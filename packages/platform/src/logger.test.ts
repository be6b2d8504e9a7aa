import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LoggerOptions, REDACTED } from './logger.ts';
import { redactUrl, redactUrlsInText } from './redact-url.ts';

function capture(options: Partial<LoggerOptions> = {}) {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ service: 'test-svc', level: 'debug', destination, ...options });
  return {
    logger,
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'hunter2-s3cr3t';

describe('createLogger', () => {
  it('writes JSON lines with the service, a level label, an ISO time and the message', () => {
    const out = capture();
    out.logger.info({ cluster: 'eu-1' }, 'agent ready');
    const [line] = out.lines();
    expect(line).toMatchObject({ service: 'test-svc', level: 'info', cluster: 'eu-1' });
    expect(line?.msg).toBe('agent ready');
    expect(String(line?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('drops lines below its level', () => {
    const out = capture({ level: 'warn' });
    out.logger.info('hidden');
    out.logger.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });

  it('redacts secrets by key at the top level and up to three objects deep', () => {
    const out = capture();
    out.logger.info(
      {
        password: SECRET,
        token: SECRET,
        authorization: `Bearer ${SECRET}`,
        config: { pg: { password: SECRET }, apiKey: SECRET, appKey: SECRET, secret: SECRET },
        req: { headers: { authorization: `Bearer ${SECRET}`, cookie: `sid=${SECRET}` } },
        res: { headers: { 'set-cookie': `sid=${SECRET}` } },
        datadog: { request: { headers: { 'dd-api-key': SECRET, 'dd-application-key': SECRET } } },
        nats: { pass: SECRET, user: 'orchestrator' },
        providers: [{ name: 'dd', apiKey: SECRET }],
      },
      'with secrets',
    );
    expect(out.raw()).not.toContain(SECRET);
    const [line] = out.lines();
    expect(line?.password).toBe(REDACTED);
    expect(line?.config).toMatchObject({ pg: { password: REDACTED }, apiKey: REDACTED });
    expect(line?.req).toEqual({ headers: { authorization: REDACTED, cookie: REDACTED } });
    // Non-secret neighbours stay readable.
    expect(line?.nats).toEqual({ pass: REDACTED, user: 'orchestrator' });
  });

  it('redacts secrets in child logger bindings', () => {
    const out = capture();
    out.logger.child({ credentials: { token: SECRET }, password: SECRET }).info('child');
    expect(out.raw()).not.toContain(SECRET);
  });

  it('masks passwords of connection strings in messages, fields and error stacks', () => {
    const out = capture();
    const url = `postgres://aviary:${SECRET}@db.internal:5432/aviary`;
    out.logger.info({ pgUrl: url, nested: { servers: [`nats://agent:${SECRET}@nats:4222`] } }, url);
    out.logger.error({ err: new Error(`connect to ${url} failed`) }, 'start failed');
    out.logger.warn(`retrying %s`, url);
    expect(out.raw()).not.toContain(SECRET);
    const [first, second] = out.lines();
    expect(first?.pgUrl).toBe('postgres://aviary:***@db.internal:5432/aviary');
    expect(second?.err).toMatchObject({
      message: 'connect to postgres://aviary:***@db.internal:5432/aviary failed',
    });
  });

  it('redacts in pretty mode too', () => {
    const out = capture({ pretty: true });
    out.logger.info({ password: SECRET, url: `nats://a:${SECRET}@h:4222` }, 'pretty line');
    const text = out.raw();
    expect(text).not.toContain(SECRET);
    expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}test-svc: pretty line \{/);
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://user:pw@host/db', 'postgres://user:***@host/db'],
    [
      'postgresql://u:p%40ss@h:5432/d?sslmode=require',
      'postgresql://u:***@h:5432/d?sslmode=require',
    ],
    ['nats://agent-eu-1:pw@127.0.0.1:4222', 'nats://agent-eu-1:***@127.0.0.1:4222'],
    ['https://api.example/v1?api_key=abc&q=1', 'https://api.example/v1?api_key=***&q=1'],
    ['postgres://db/aviary?password=pw', 'postgres://db/aviary?password=***'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it('leaves a URL without credentials exactly as given', () => {
    for (const url of ['postgres://user@host/db', 'nats://127.0.0.1:4222', '127.0.0.1:4222']) {
      expect(redactUrl(url)).toBe(url);
    }
  });

  it('masks every URL in a free text', () => {
    expect(redactUrlsInText('a postgres://u:p@h/d and nats://x:y@z:4222, done')).toBe(
      'a postgres://u:***@h/d and nats://x:***@z:4222, done',
    );
  });
});
