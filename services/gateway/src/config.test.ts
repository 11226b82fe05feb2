// The gateway's listener settings: PORT and HOST, the optional METRICS_PORT / METRICS_HOST pair and
// how they are checked (every problem in one ConfigError).
import { ConfigError } from '@walcast/config';
import { readConfig } from './config';

const BASE = { REDIS_URL: 'redis://127.0.0.1:6379' };

function problems(env: Record<string, string>): readonly string[] {
  try {
    readConfig({ ...BASE, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

describe('gateway listeners', () => {
  it('serves everything on PORT at 0.0.0.0 by default', () => {
    const config = readConfig(BASE);
    expect(config).toMatchObject({ port: 4000, host: '0.0.0.0', metricsPort: null, metricsHost: '0.0.0.0' });
  });

  it('takes METRICS_PORT, with METRICS_HOST defaulting to HOST', () => {
    const config = readConfig({ ...BASE, HOST: '127.0.0.1', METRICS_PORT: '9101' });
    expect(config).toMatchObject({ host: '127.0.0.1', metricsPort: 9101, metricsHost: '127.0.0.1' });
  });

  it('takes a METRICS_HOST of its own', () => {
    const config = readConfig({ ...BASE, METRICS_PORT: '9101', METRICS_HOST: '::1' });
    expect(config).toMatchObject({ host: '0.0.0.0', metricsPort: 9101, metricsHost: '::1' });
  });

  it('refuses METRICS_PORT equal to PORT', () => {
    expect(problems({ PORT: '4000', METRICS_PORT: '4000' })).toEqual([
      'METRICS_PORT: must differ from PORT (both 4000); unset it to serve /metrics on PORT',
    ]);
  });

  it('refuses METRICS_HOST without METRICS_PORT (it would have no effect)', () => {
    expect(problems({ METRICS_HOST: '127.0.0.1' })).toEqual([
      'METRICS_HOST is set but METRICS_PORT is not: set METRICS_PORT for a separate metrics listener',
    ]);
  });

  it.each([
    ['METRICS_PORT', '0', /METRICS_PORT: expected an integer from 1 to 65535, got "0"/],
    ['METRICS_PORT', '65536', /METRICS_PORT: expected an integer from 1 to 65535/],
    ['PORT', '-1', /PORT: expected an integer from 0 to 65535/],
    ['HOST', '0.0.0.0:4000', /HOST: expected an IP address .* without a port, got "0.0.0.0:4000"/],
    ['HOST', 'http://localhost', /HOST: expected an IP address/],
  ])('refuses %s=%s', (name, value, message) => {
    const found = problems({ METRICS_PORT: '9101', [name]: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('lists listener and auth problems together', () => {
    const found = problems({ PORT: '4000', METRICS_PORT: '4000', SECURE_CHANNELS: 'true' });
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/^METRICS_PORT: must differ from PORT/);
    expect(found[1]).toMatch(/^SECURE_CHANNELS is on but no key is configured/);
  });
});

describe('PRESENCE_LEASE', () => {
  it('defaults to 8 s and takes a duration', () => {
    expect(readConfig(BASE).presenceLeaseMs).toBe(8_000);
    expect(readConfig({ ...BASE, PRESENCE_LEASE: '2.5s' }).presenceLeaseMs).toBe(2500);
  });

  it('refuses less than 1 s', () => {
    expect(problems({ PRESENCE_LEASE: '999ms' })).toEqual([
      'PRESENCE_LEASE: expected at least 1000ms, got 999ms',
    ]);
  });
});

describe('INSPECTOR', () => {
  /** Production defaults to secure channels, which need a key (and here no row authorization). */
  const PRODUCTION = { ...BASE, NODE_ENV: 'production', JWT_SECRET: 'k', ROW_AUTHORIZATION: 'off' };

  it('is on by default outside production and off in production', () => {
    expect(readConfig(BASE).servesInspector).toBe(true);
    expect(readConfig({ ...BASE, NODE_ENV: 'development' }).servesInspector).toBe(true);
    expect(readConfig(PRODUCTION).servesInspector).toBe(false);
  });

  it('follows INSPECTOR when it is set, in production too', () => {
    expect(readConfig({ ...BASE, INSPECTOR: 'false' }).servesInspector).toBe(false);
    expect(readConfig({ ...PRODUCTION, INSPECTOR: 'true' }).servesInspector).toBe(true);
  });

  it('refuses a value that is not a boolean', () => {
    expect(problems({ INSPECTOR: 'maybe' })).toEqual([
      expect.stringMatching(/^INSPECTOR: expected `true` or `false`/),
    ]);
  });
});

describe('Redis: one server or a cluster', () => {
  const seeds = '10.0.0.1:7000,10.0.0.2:7000';

  it('uses REDIS_URL alone', () => {
    const config = readConfig(BASE);
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(config.redisUrlIgnored).toBe(false);
  });

  it('uses REDIS_CLUSTER_NODES instead of REDIS_URL, which it makes optional', () => {
    const { REDIS_URL: _ignored, ...withoutUrl } = BASE;
    const config = readConfig({ ...withoutUrl, REDIS_CLUSTER_NODES: seeds });
    expect(config.redis).toEqual({
      cluster: {
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7000 },
        ],
        tls: false,
      },
    });
    expect(config.redisUrlIgnored).toBe(false);
  });

  it('lets REDIS_CLUSTER_NODES take precedence when both are set, and says so', () => {
    const config = readConfig({ ...BASE, REDIS_CLUSTER_NODES: seeds });
    expect(config.redis.cluster).toBeDefined();
    expect(config.redisUrlIgnored).toBe(true);
  });

  it('needs one of them, and refuses seeds that are not host:port', () => {
    const { REDIS_URL: _ignored, ...withoutUrl } = BASE;
    expect(() => readConfig(withoutUrl)).toThrow(/REDIS_URL or REDIS_CLUSTER_NODES is required/);
    expect(() => readConfig({ ...BASE, REDIS_CLUSTER_NODES: 'redis-1' })).toThrow(/REDIS_CLUSTER_NODES/);
  });
});
