// The inspector page as the gateway serves it (docs/inspector.md): on by default outside
// production, off in production and with INSPECTOR=false, on PORT only; the same static files for
// everyone with a strict Content-Security-Policy, none of the gateway's settings in them, nothing
// but the bundle's files under /inspector/, and 503 (logged once) when the bundle was not built.
// The page itself, in a browser: test/browser/inspector.browser.test.ts.
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  GATEWAY_ENTRY,
  freePort,
  spawnService,
  startBackends,
  type Backends,
  type ServiceProcess,
} from '@walcast/test-utils';

jest.setTimeout(60_000);

const JWT_SECRET = 'inspector-test-secret-that-must-never-be-served';

let backends: Backends;
const gateways: ServiceProcess[] = [];

beforeAll(async () => {
  backends = await startBackends();
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await backends?.stop();
});

/** A gateway on a free port with `env`; resolves once ready, with its ports. */
async function gateway(env: Record<string, string>, entry = GATEWAY_ENTRY) {
  const port = await freePort();
  const metricsPort = await freePort();
  const process = await spawnService({
    name: `gateway-${gateways.length}`,
    entry,
    env: { PORT: String(port), METRICS_PORT: String(metricsPort), REDIS_URL: backends.redis.url, ...env },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
  });
  gateways.push(process);
  await process.waitForReady();
  return { port, metricsPort, process };
}

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, {
    redirect: 'manual',
    headers,
    signal: AbortSignal.timeout(2000),
  });

describe('with INSPECTOR unset outside production', () => {
  let port = 0;
  let metricsPort = 0;
  beforeAll(async () => {
    // Secure channels, so that there is a secret the page must not carry.
    ({ port, metricsPort } = await gateway({
      SECURE_CHANNELS: 'true',
      JWT_SECRET,
      ROW_AUTHORIZATION: 'off',
    }));
  });

  it('redirects /inspector to /inspector/, which is the page, with its security headers', async () => {
    const redirect = await get(port, '/inspector');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/inspector/');

    const page = await get(port, '/inspector/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
      ]),
    );
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('<script src="inspector.js" defer></script>');
    expect(html).not.toMatch(/<script>|\son[a-z]+="/i); // nothing inline: the CSP would block it
  });

  it('serves the script and the style with their types, gzipped to clients that ask', async () => {
    const script = await get(port, '/inspector/inspector.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const text = await script.text();
    expect(text).toContain('supabase'); // supabase-js is in the bundle
    const gzipped = await get(port, '/inspector/inspector.js', { 'accept-encoding': 'gzip' });
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    expect(await gzipped.text()).toBe(text); // fetch decodes it
    expect((await get(port, '/inspector/inspector.css')).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
  });

  it('carries none of the gateway’s settings: not the JWT secret, not Redis', async () => {
    const redisPort = String(backends.redis.port);
    for (const path of ['/inspector/', '/inspector/inspector.js', '/inspector/inspector.css']) {
      const body = await (await get(port, path)).text();
      expect(body.length).toBeGreaterThan(100);
      expect(body).not.toContain(JWT_SECRET);
      expect(body).not.toContain(`:${redisPort}`);
    }
  });

  it.each(['/inspector/nope.js', '/inspector/..%2Fmain.js', '/inspector/src/main.ts'])(
    'answers 404 for %s, with the same headers',
    async (path) => {
      const res = await get(port, path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    },
  );

  it('is not on the metrics port', async () => {
    expect((await get(metricsPort, '/inspector/')).status).toBe(404);
    expect((await get(metricsPort, '/metrics')).status).toBe(200);
  });
});

describe('off', () => {
  it('with INSPECTOR=false: 404, like any unknown path', async () => {
    const { port } = await gateway({ INSPECTOR: 'false' });
    for (const path of ['/inspector', '/inspector/', '/inspector/inspector.js']) {
      expect((await get(port, path)).status).toBe(404);
    }
  });

  it('in production unless INSPECTOR=true', async () => {
    const production = { NODE_ENV: 'production', JWT_SECRET, ROW_AUTHORIZATION: 'off' };
    const off = await gateway(production);
    expect((await get(off.port, '/inspector/')).status).toBe(404);
    const on = await gateway({ ...production, INSPECTOR: 'true' });
    expect((await get(on.port, '/inspector/')).status).toBe(200);
  });
});

describe('not built', () => {
  let copy = '';
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it('answers 503 saying how to build it, and logs InspectorNotBuilt once', async () => {
    // The gateway's dist without dist/inspector, resolving its packages from the real node_modules.
    copy = mkdtempSync(join(tmpdir(), 'walcast-gateway-'));
    const dist = dirname(GATEWAY_ENTRY);
    cpSync(dist, join(copy, 'dist'), {
      recursive: true,
      filter: (src) => !src.startsWith(join(dist, 'inspector')),
    });
    symlinkSync(join(dist, '..', 'node_modules'), join(copy, 'node_modules'));
    const { port, process } = await gateway({}, join(copy, 'dist', 'main.js'));

    const res = await get(port, '/inspector/');
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/not built: run `pnpm build`/);
    expect(process.logs.filter((l) => l['code'] === 'InspectorNotBuilt')).toEqual([
      expect.objectContaining({ level: 'warn', component: 'inspector' }),
    ]);
    expect((await get(port, '/healthz')).status).toBe(200);
  });
});
