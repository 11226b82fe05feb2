/**
 * The inspector (INSPECTOR, docs/inspector.md): a static page at `/inspector/` on PORT with which a
 * person joins a channel through supabase-js and watches its events. `pnpm build` bundles it into
 * `dist/inspector/` (services/gateway/inspector/bundle.js); the gateway reads those few files once,
 * at start, and serves them from memory, gzipped to clients that accept it (the script, mostly
 * supabase-js, is about 230 KiB, 65 KiB gzipped).
 *
 * What it guarantees: the page is the same bytes for everyone and carries no setting of this
 * gateway, let alone a secret (visitors paste their own token); only the files of the bundle are
 * served, whatever the path asks for; every answer has a Content-Security-Policy that lets the page
 * run its own script and style only and talk to this origin only, and may not be framed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Logger } from '@walcast/logger';
import type { HttpResponse, TemplatedApp } from '../uws';

/** Where `pnpm build` writes the bundle: `dist/inspector`, next to this file's `dist/http`. */
export const INSPECTOR_DIR = join(__dirname, '..', 'inspector');

/** The path prefix the page is served under. */
export const INSPECTOR_PATH = '/inspector';

export const INSPECTOR_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // 'self' covers ws: and wss: to this origin (CSP Level 3): the websocket and the REST fallback.
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['content-security-policy', INSPECTOR_CSP],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cache-control', 'no-cache'],
];

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface StaticFile {
  body: Buffer;
  gzipped: Buffer;
  contentType: string;
}

/** The inspector's files, read once; `null` files when the bundle is missing (not built). */
export class InspectorPage {
  private constructor(private readonly files: ReadonlyMap<string, StaticFile> | null) {}

  /**
   * Reads the bundle from `dir`. A missing bundle is logged (InspectorNotBuilt) and the page then
   * answers 503 saying how to build it, rather than stopping the gateway.
   */
  static load(log: Logger, dir: string = INSPECTOR_DIR): InspectorPage {
    const files = new Map<string, StaticFile>();
    try {
      for (const name of readdirSync(dir)) {
        const contentType = CONTENT_TYPES[extname(name)];
        if (!contentType) continue;
        const body = readFileSync(join(dir, name));
        files.set(name, { body, gzipped: gzipSync(body), contentType });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!files.has('index.html')) {
      log.warn(
        { code: 'InspectorNotBuilt', dir },
        'INSPECTOR is on but the page is not built; /inspector answers 503',
      );
      return new InspectorPage(null);
    }
    return new InspectorPage(files);
  }

  /** The file names served under `/inspector/` (`index.html` at `/inspector/` itself). */
  get fileNames(): string[] {
    return [...(this.files?.keys() ?? [])].sort();
  }

  /** Adds `/inspector` (a redirect to `/inspector/`), `/inspector/` and its files to `app`. */
  addRoutes(app: TemplatedApp): void {
    app.get(INSPECTOR_PATH, (res) => {
      res.writeStatus('308 Permanent Redirect').writeHeader('location', `${INSPECTOR_PATH}/`).end();
    });
    app.get(`${INSPECTOR_PATH}/*`, (res, req) => {
      const name = req.getUrl().slice(INSPECTOR_PATH.length + 1) || 'index.html';
      this.serve(res, name, /\bgzip\b/.test(req.getHeader('accept-encoding')));
    });
  }

  private serve(res: HttpResponse, name: string, acceptsGzip: boolean): void {
    if (!this.files) {
      res
        .writeStatus('503 Service Unavailable')
        .writeHeader('content-type', 'text/plain; charset=utf-8')
        .end('The inspector is not built: run `pnpm build`, then restart the gateway.\n');
      return;
    }
    const file = this.files.get(name);
    res.writeStatus(file ? '200 OK' : '404 Not Found');
    for (const [header, value] of SECURITY_HEADERS) res.writeHeader(header, value);
    if (!file) {
      res.writeHeader('content-type', 'text/plain; charset=utf-8').end('not found\n');
      return;
    }
    res.writeHeader('content-type', file.contentType).writeHeader('vary', 'accept-encoding');
    if (acceptsGzip) res.writeHeader('content-encoding', 'gzip').end(file.gzipped);
    else res.end(file.body);
  }
}
