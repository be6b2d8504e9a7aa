/**
 * The web dashboard's files, served by the API server: `GET /` is `index.html`, `GET
 * /dashboard/<file>` the other files of `public/` (HEAD as well). There is no build step: the
 * files are plain HTML, CSS and browser ES modules, read once when the server is built.
 *
 * Path traversal is impossible by construction rather than by checking paths: the set of files
 * served is fixed at start (the flat `public/` directory, names of lower-case letters, digits and
 * `-` with a known extension), and a request is looked up in that set by its one decoded path
 * segment. Nothing derived from a request ever reaches the file system.
 *
 * The pages are public (no token to load them); every piece of data comes from the
 * token-protected API. They carry a strict Content-Security-Policy (scripts, styles and
 * connections only from this origin, no inline script or style, no frames), `nosniff`, and an
 * ETag with `Cache-Control: no-cache`: without a build step file names carry no hash, so a browser
 * revalidates each time (a 304 without the body while the file is unchanged).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, HttpErrorCode } from '../api/http-errors.ts';
import type { RouteDefinition } from '../api/router.ts';
import { type ApiRequest, type ApiRoute, STREAMED } from '../api/routes.ts';

/** Where the dashboard's files are. */
export const DASHBOARD_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Names of the files that may be served: no dots but the extension's, no slashes. */
const SERVABLE = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg)$/;

/**
 * No inline script or style (charts are SVG built through the DOM, sizes set through the CSSOM),
 * nothing from elsewhere, no framing, no plugins, forms only to this origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every dashboard file. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface DashboardAsset {
  readonly name: string;
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong ETag: the SHA-256 of the content. */
  readonly etag: string;
}

/** Reads the dashboard's files (the servable ones) into memory. */
export function loadDashboardAssets(dir: string = DASHBOARD_DIR): Map<string, DashboardAsset> {
  const assets = new Map<string, DashboardAsset>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !SERVABLE.test(entry.name)) continue;
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (contentType === undefined) continue;
    const body = readFileSync(join(dir, entry.name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(entry.name, { name: entry.name, body, contentType, etag });
  }
  if (!assets.has('index.html')) {
    throw new Error(`the dashboard has no index.html in ${dir}`);
  }
  return assets;
}

/** The files of `DASHBOARD_DIR`, read once per process (every API server serves the same). */
let shipped: Map<string, DashboardAsset> | undefined;

function shippedAssets(): Map<string, DashboardAsset> {
  shipped ??= loadDashboardAssets();
  return shipped;
}

/** The routes of the dashboard's files (GET and HEAD, public); by default `DASHBOARD_DIR`'s. */
export function dashboardRoutes(
  assets: ReadonlyMap<string, DashboardAsset> = shippedAssets(),
): RouteDefinition<ApiRoute>[] {
  const serve =
    (pick: (request: ApiRequest) => DashboardAsset | undefined): ApiRoute['handle'] =>
    async (_deps, request) => {
      const asset = pick(request);
      if (asset === undefined) {
        throw new HttpError(
          404,
          HttpErrorCode.RouteNotFound,
          `no dashboard file ${request.req.url}`,
        );
      }
      send(request, asset);
      return STREAMED;
    };
  const index = serve(() => assets.get('index.html'));
  const file = serve(({ params }) => {
    const name = params.file ?? '';
    return SERVABLE.test(name) ? assets.get(name) : undefined;
  });
  return (['GET', 'HEAD'] as const).flatMap((method) => [
    { method, pattern: '/', value: { access: 'public', handle: index } },
    { method, pattern: '/dashboard/{file}', value: { access: 'public', handle: file } },
  ]);
}

function send({ req, res }: ApiRequest, asset: DashboardAsset): void {
  const headers = {
    ...SECURITY_HEADERS,
    'cache-control': 'no-cache',
    etag: asset.etag,
  };
  const match = req.headers['if-none-match'];
  if (match?.split(',').some((tag) => tag.trim() === asset.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, {
    ...headers,
    'content-type': asset.contentType,
    'content-length': asset.body.length,
  });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
