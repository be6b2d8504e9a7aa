/**
 * The dashboard's files as the API server serves them: content types, the security and caching
 * headers, no inline script, no token needed, and no way out of the fixed set of files.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type EventStore, openPGliteEventStore } from '@aviary/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../api/server.ts';
import { FakeOperations, FakeReadModel, recordingLogger } from '../api/test-fakes.ts';
import { CONTENT_SECURITY_POLICY, DASHBOARD_DIR, loadDashboardAssets } from './assets.ts';

const VIEWER = 'viewer-token-0123456789';

let store: EventStore;
let server: ApiServer;
let base: string;
beforeAll(async () => {
  store = await openPGliteEventStore();
  server = createApiServer({
    operations: new FakeOperations(),
    readModel: new FakeReadModel(),
    store,
    tokens: [{ name: 'vera', role: 'viewer', token: VIEWER }],
    logger: recordingLogger(),
  });
  base = (await server.listen(0)).url;
});
afterAll(async () => {
  await server.close();
  await store.close();
});

interface Raw {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request whose target is sent exactly as written (fetch would normalise `..`). */
function raw(method: string, target: string, headers: Record<string, string> = {}): Promise<Raw> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method,
      path: target,
      headers,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard files', () => {
  it('serves the page at / without a token, with a strict CSP and caching headers', async () => {
    const page = await raw('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers.etag).toMatch(/^"[\w-]+"$/);
    expect(page.body).toBe(await readFile(join(DASHBOARD_DIR, 'index.html'), 'utf8'));
    expect(page.body).toContain('<script type="module" src="/dashboard/app.js"></script>');
    // The data is not public: the API still wants a token.
    expect((await raw('GET', '/api/v1/whoami')).status).toBe(401);
    expect(
      JSON.parse((await raw('GET', '/api/v1/whoami', { authorization: `Bearer ${VIEWER}` })).body),
    ).toEqual({ name: 'vera', role: 'viewer' });
  });

  it('has no inline script, event handler attribute or inline style in its HTML', async () => {
    const html = (await raw('GET', '/')).body;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, content] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/dashboard\/[a-z-]+\.js"/);
      expect(content?.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/<style\b/i);
  });

  it('serves each file with its content type, answers HEAD and revalidation', async () => {
    const types: Record<string, string> = {
      'app.js': 'text/javascript; charset=utf-8',
      'api.js': 'text/javascript; charset=utf-8',
      'styles.css': 'text/css; charset=utf-8',
      'favicon.svg': 'image/svg+xml',
    };
    for (const [file, type] of Object.entries(types)) {
      const reply = await raw('GET', `/dashboard/${file}`);
      expect(reply.status, file).toBe(200);
      expect(reply.headers['content-type'], file).toBe(type);
      expect(reply.headers['content-security-policy'], file).toBe(CONTENT_SECURITY_POLICY);
      expect(reply.body).toBe(await readFile(join(DASHBOARD_DIR, file), 'utf8'));
    }
    const get = await raw('GET', '/dashboard/app.js');
    const head = await raw('HEAD', '/dashboard/app.js');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
    expect(head.headers.etag).toBe(get.headers.etag);

    const etag = String(get.headers.etag);
    const again = await raw('GET', '/dashboard/app.js', { 'if-none-match': `"other", ${etag}` });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect((await raw('GET', '/dashboard/app.js', { 'if-none-match': '"other"' })).status).toBe(
      200,
    );
    expect((await raw('GET', '/dashboard/styles.css')).headers.etag).not.toBe(etag);
  });

  it('serves nothing outside its files: traversal, encodings, other files, other methods', async () => {
    const targets = [
      '/dashboard/../assets.ts',
      '/dashboard/..%2Fassets.ts',
      '/dashboard/%2e%2e%2fassets.ts',
      '/dashboard/%2E%2E/%2E%2E/package.json',
      '/dashboard/..%5cassets.ts',
      '/dashboard/%2e%2e%5c%2e%2e%5cpackage.json',
      '/dashboard/....//assets.ts',
      '/dashboard/assets.ts',
      '/dashboard/assets.test.ts',
      '/dashboard/tsconfig.json',
      '/dashboard/public/app.js',
      '/dashboard/./app.js',
      '/dashboard/app.js/',
      '/dashboard/app.js%00.css',
      '/dashboard/app.js%2f..%2f..%2fassets.ts',
      '/dashboard/%252e%252e%252fassets.ts',
      '/dashboard/APP.JS',
      '/dashboard/',
      '/dashboard',
      '/index.html',
      '/../package.json',
      '/dashboard/%2F%2Fetc%2Fpasswd',
      '/dashboard/%2fetc%2fpasswd',
    ];
    const secret = await readFile(fileURLToPath(new URL('./assets.ts', import.meta.url)), 'utf8');
    for (const target of targets) {
      const reply = await raw('GET', target);
      expect([400, 404], target).toContain(reply.status);
      expect(reply.headers['content-type'], target).toBe('application/json; charset=utf-8');
      expect(reply.body, target).not.toContain('loadDashboardAssets');
      expect(reply.body.length).toBeLessThan(secret.length);
    }
    const post = await raw('POST', '/dashboard/app.js');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('loads only flat files with known names and extensions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aviary-dashboard-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html>');
      await writeFile(join(dir, 'app.js'), 'export {};');
      await writeFile(join(dir, '.hidden.js'), 'secret');
      await writeFile(join(dir, 'notes.md'), 'secret');
      await writeFile(join(dir, 'data.json'), '{}');
      await writeFile(join(dir, 'Upper.js'), 'secret');
      await mkdir(join(dir, 'sub.js'));
      await writeFile(join(dirname(dir), `${join(dir).split('/').at(-1)}-outside.js`), 'secret');
      await symlink(
        join(dirname(dir), `${dir.split('/').at(-1)}-outside.js`),
        join(dir, 'link.js'),
      );
      const assets = loadDashboardAssets(dir);
      expect([...assets.keys()].sort()).toEqual(['app.js', 'index.html']);
    } finally {
      await rm(join(dirname(dir), `${dir.split('/').at(-1)}-outside.js`), { force: true });
      await rm(dir, { recursive: true, force: true });
    }
    const empty = await mkdtemp(join(tmpdir(), 'aviary-dashboard-'));
    try {
      expect(() => loadDashboardAssets(empty)).toThrow(/no index.html/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('is left out when the server is built with dashboard: false', async () => {
    const bare = createApiServer({
      operations: new FakeOperations(),
      readModel: new FakeReadModel(),
      store,
      tokens: [{ name: 'vera', role: 'viewer', token: VIEWER }],
      logger: recordingLogger(),
      dashboard: false,
    });
    const { url } = await bare.listen(0);
    try {
      expect((await fetch(`${url}/`)).status).toBe(404);
      expect((await fetch(`${url}/dashboard/app.js`)).status).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('has browser modules that type-check (JSDoc, strict) with their own tsconfig', async () => {
    const tsc = fileURLToPath(new URL('../../../../node_modules/.bin/tsc', import.meta.url));
    const project = fileURLToPath(new URL('./tsconfig.json', import.meta.url));
    const result = await promisify(execFile)(tsc, ['-p', project]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        out: e.stdout + e.stderr,
      }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
});
