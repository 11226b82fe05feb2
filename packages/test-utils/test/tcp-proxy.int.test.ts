// TcpProxy against a real Redis: traffic passes, a cut resets the open connection and refuses
// reconnects for its duration, then the client gets through again by itself.
import Redis from 'ioredis';

import { TcpProxy, startBackends, waitFor, type Backends } from '../src/index';

let backends: Backends;
let proxy: TcpProxy;

beforeAll(async () => {
  backends = await startBackends({ strategy: 'local' });
  proxy = await TcpProxy.start({ host: backends.redis.host, port: backends.redis.port });
});

afterAll(async () => {
  await proxy?.close();
  await backends?.stop();
});

function client(): Redis {
  const redis = new Redis(proxy.port, proxy.host, { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined); // failures are observed through commands and events below
  return redis;
}

it('pipes commands both ways to the target', async () => {
  const redis = client();
  try {
    await redis.set('through-proxy', 'yes');
    const direct = new Redis(backends.redis.url);
    expect(await direct.get('through-proxy')).toBe('yes');
    direct.disconnect();
    expect(proxy.openConnections).toBeGreaterThanOrEqual(1);
  } finally {
    redis.disconnect();
  }
});

it('cut(ms) resets open connections, refuses new ones for ms, then lets them through', async () => {
  const redis = client();
  const closes: number[] = [];
  redis.on('close', () => closes.push(Date.now()));
  try {
    expect(await redis.ping()).toBe('PONG');
    const refusedBefore = proxy.refused;
    const started = Date.now();
    const cut = proxy.cut(600);
    expect(proxy.isCut).toBe(true);
    await waitFor(() => closes.length > 0, {
      timeoutMs: 5000,
      message: 'the client saw its connection close',
    });
    // Reconnects (every 50 ms) are refused while the cut lasts: commands fail instead of passing.
    await expect(redis.ping()).rejects.toThrow();
    await waitFor(() => proxy.refused > refusedBefore, { timeoutMs: 5000, message: 'a refused reconnect' });
    await cut;
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(proxy.isCut).toBe(false);
    await waitFor(async () => (await redis.ping().catch(() => null)) === 'PONG', {
      timeoutMs: 10_000,
      message: 'the client back through the proxy',
    });
    expect(proxy.severed).toBeGreaterThanOrEqual(1);
  } finally {
    redis.disconnect();
  }
});

it('drops the client side when the target goes away', async () => {
  const redis = client();
  let closed = false;
  redis.on('close', () => (closed = true));
  try {
    expect(await redis.ping()).toBe('PONG');
    await backends.redis.stop();
    await waitFor(() => closed, { timeoutMs: 5000, message: 'the client saw the target go' });
    await backends.redis.start();
    await waitFor(async () => (await redis.ping().catch(() => null)) === 'PONG', {
      timeoutMs: 10_000,
      message: 'the client back once the target is',
    });
  } finally {
    redis.disconnect();
  }
});
