// Where the gateway listens: METRICS_PORT moves /metrics off the public port (404 there) while
// /healthz and /readyz answer on both; HOST and METRICS_HOST bind each listener to one address
// (127.0.0.2 is another loopback address on Linux: nothing bound to 127.0.0.1 answers there).
import { connect, createServer } from 'node:net';

import {
  GATEWAY_ENTRY,
  PhoenixTestClient,
  freePort,
  spawnService,
  startBackends,
  type Backends,
  type ServiceProcess,
} from '@walcast/test-utils';

jest.setTimeout(60_000);

let backends: Backends;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  backends = await startBackends();
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((g) => g.stop()));
});

afterAll(async () => {
  await backends?.stop();
});

async function startGateway(env: Record<string, string>, readyHost = '127.0.0.1'): Promise<ServiceProcess> {
  const gateway = await spawnService({
    name: 'gateway-listeners',
    entry: GATEWAY_ENTRY,
    env: { REDIS_URL: backends.redis.url, LOG_LEVEL: 'info', ...env },
    readyUrl: `http://${readyHost}:${env['PORT']}/readyz`,
  });
  started.push(gateway);
  await gateway.waitForReady();
  return gateway;
}

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

function listeningLog(gateway: ServiceProcess): Record<string, unknown> | undefined {
  return gateway.logs.find((l) => l['msg'] === 'listening');
}

describe('METRICS_PORT', () => {
  it('serves /metrics only there, and /healthz and /readyz on both ports', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const gateway = await startGateway({ PORT: String(port), METRICS_PORT: String(metricsPort) });

    expect((await get('127.0.0.1', port, '/metrics')).status).toBe(404);
    const scrape = await get('127.0.0.1', metricsPort, '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.body).toContain('walcast_gateway_connections');
    for (const p of [port, metricsPort]) {
      expect(await get('127.0.0.1', p, '/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
      expect(await get('127.0.0.1', p, '/readyz')).toEqual({ status: 200, body: '{"status":"ready"}' });
    }
    // Websockets stay on the public port only.
    expect((await get('127.0.0.1', metricsPort, '/socket/websocket')).status).toBe(404);
    const client = await PhoenixTestClient.connect(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`);
    try {
      expect((await client.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
    } finally {
      await client.terminate();
    }
    expect(listeningLog(gateway)).toMatchObject({
      address: `0.0.0.0:${port}`,
      metricsAddress: `0.0.0.0:${metricsPort}`,
    });
  });

  it('without it, serves /metrics on PORT as before', async () => {
    const port = await freePort();
    const gateway = await startGateway({ PORT: String(port) });
    expect((await get('127.0.0.1', port, '/metrics')).status).toBe(200);
    expect(listeningLog(gateway)).toMatchObject({
      address: `0.0.0.0:${port}`,
      metricsAddress: `0.0.0.0:${port}`,
    });
  });

  it('exits non-zero and says why when METRICS_PORT is taken', async () => {
    const taken = createServer();
    const metricsPort = await freePort();
    await new Promise<void>((resolve) => taken.listen(metricsPort, '0.0.0.0', resolve));
    try {
      const gateway = await spawnService({
        name: 'gateway-taken',
        entry: GATEWAY_ENTRY,
        env: {
          REDIS_URL: backends.redis.url,
          PORT: String(await freePort()),
          METRICS_PORT: String(metricsPort),
        },
      });
      const timer = setTimeout(() => void gateway.kill(), 10_000); // a failed listen must end the process
      const exit = await gateway.exited.finally(() => clearTimeout(timer));
      expect(exit.signal).toBeNull();
      expect(exit.code).toBe(1);
      expect(gateway.lines.join('\n')).toContain(`cannot listen on 0.0.0.0:${metricsPort}`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('HOST and METRICS_HOST', () => {
  it('bind each listener to its address only', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const gateway = await startGateway({
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.2',
    });
    expect((await get('127.0.0.1', port, '/readyz')).status).toBe(200);
    expect(await tcpConnect('127.0.0.2', port)).toBe('ECONNREFUSED');
    expect((await get('127.0.0.2', metricsPort, '/metrics')).status).toBe(200);
    expect(await tcpConnect('127.0.0.1', metricsPort)).toBe('ECONNREFUSED');
    expect(listeningLog(gateway)).toMatchObject({
      address: `127.0.0.1:${port}`,
      metricsAddress: `127.0.0.2:${metricsPort}`,
    });
  });

  it('METRICS_HOST defaults to HOST', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    await startGateway(
      { PORT: String(port), HOST: '127.0.0.2', METRICS_PORT: String(metricsPort) },
      '127.0.0.2',
    );
    expect((await get('127.0.0.2', metricsPort, '/metrics')).status).toBe(200);
    expect(await tcpConnect('127.0.0.1', metricsPort)).toBe('ECONNREFUSED');
    expect(await tcpConnect('127.0.0.1', port)).toBe('ECONNREFUSED');
  });
});
