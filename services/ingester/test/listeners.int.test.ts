// Where the ingester listens: METRICS_PORT moves /metrics off HEALTH_PORT (404 there) while
// /healthz and /readyz answer on both; HEALTH_HOST and METRICS_HOST bind each listener to one address
// (127.0.0.2 is another loopback address on Linux: nothing bound to 127.0.0.1 answers there);
// unset, HEALTH_HOST means every interface as before.
import { connect } from 'node:net';

import { type WalcastStack, freePort, type Backends, startStackWithSchema } from '@walcast/test-utils';

jest.setTimeout(60_000);

let backends: Backends;
let stack: WalcastStack;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.items (id int primary key, body text)',
      'create publication supabase_realtime for table public.items',
    ],
    {
      gateways: 0,
      ingesterEnv: { HEALTH_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.2' },
    },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

async function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.text() };
}

/** `connected`, or the error code of a TCP connect to host:port (ECONNREFUSED when nothing listens). */
function tcpConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function listeningLog(): Record<string, unknown> | undefined {
  return stack.ingester?.logs.find((l) => l['msg'] === 'listening');
}

describe('METRICS_PORT with HEALTH_HOST and METRICS_HOST', () => {
  it('serves /metrics only on METRICS_PORT, and /healthz and /readyz on both', async () => {
    const health = stack.healthPort;
    expect((await get('127.0.0.1', health, '/metrics')).status).toBe(404);
    const scrape = await get('127.0.0.2', metricsPort, '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.body).toContain('walcast_ingester_state{state="streaming"} 1');
    for (const [host, port] of [
      ['127.0.0.1', health],
      ['127.0.0.2', metricsPort],
    ] as const) {
      expect(await get(host, port, '/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
      expect(await get(host, port, '/readyz')).toEqual({ status: 200, body: '{"status":"ready"}' });
    }
  });

  it('binds each listener to its address only, and logs both', async () => {
    expect(await tcpConnect('127.0.0.2', stack.healthPort)).toBe('ECONNREFUSED');
    expect(await tcpConnect('127.0.0.1', metricsPort)).toBe('ECONNREFUSED');
    expect(listeningLog()).toMatchObject({
      address: `127.0.0.1:${stack.healthPort}`,
      metricsAddress: `127.0.0.2:${metricsPort}`,
    });
  });
});

describe('defaults', () => {
  it('serves everything on HEALTH_PORT on every interface', async () => {
    await stack.ingester?.stop();
    await stack.startIngester({ HEALTH_HOST: '', METRICS_PORT: '', METRICS_HOST: '' });
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      expect((await get(host, stack.healthPort, '/metrics')).status).toBe(200);
      expect((await get(host, stack.healthPort, '/readyz')).status).toBe(200);
    }
    expect(await tcpConnect('127.0.0.1', metricsPort)).toBe('ECONNREFUSED');
    const { address, metricsAddress } = listeningLog() ?? {};
    expect(address).toMatch(new RegExp(`^(\\[::\\]|0\\.0\\.0\\.0):${stack.healthPort}$`));
    expect(metricsAddress).toBe(address);
  });
});
