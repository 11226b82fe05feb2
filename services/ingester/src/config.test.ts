// The ingester's listener settings: HEALTH_PORT and HEALTH_HOST, the optional METRICS_PORT /
// METRICS_HOST pair and how they are checked (every problem in one ConfigError).
import { ConfigError } from '@walcast/config';
import { readConfig } from './config';

const BASE = { REDIS_URL: 'redis://127.0.0.1:6379', DB_HOST: '127.0.0.1' };

function problems(env: Record<string, string>): readonly string[] {
  try {
    readConfig({ ...BASE, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

describe('ingester listeners', () => {
  it('serves everything on HEALTH_PORT on every interface by default', () => {
    const config = readConfig(BASE);
    expect(config).toMatchObject({ healthPort: 9100, metricsPort: null });
    expect(config.healthHost).toBeUndefined();
    expect(config.metricsHost).toBeUndefined();
  });

  it('takes METRICS_PORT, with METRICS_HOST defaulting to HEALTH_HOST', () => {
    const config = readConfig({ ...BASE, HEALTH_HOST: '127.0.0.1', METRICS_PORT: '9101' });
    expect(config).toMatchObject({ healthHost: '127.0.0.1', metricsPort: 9101, metricsHost: '127.0.0.1' });
  });

  it('takes a METRICS_HOST of its own', () => {
    const config = readConfig({ ...BASE, METRICS_PORT: '9101', METRICS_HOST: '0.0.0.0' });
    expect(config.healthHost).toBeUndefined();
    expect(config).toMatchObject({ metricsPort: 9101, metricsHost: '0.0.0.0' });
  });

  it('refuses METRICS_PORT equal to HEALTH_PORT', () => {
    expect(problems({ METRICS_PORT: '9100' })).toEqual([
      'METRICS_PORT: must differ from HEALTH_PORT (both 9100); unset it to serve /metrics on HEALTH_PORT',
    ]);
  });

  it('refuses METRICS_HOST without METRICS_PORT (it would have no effect)', () => {
    expect(problems({ METRICS_HOST: '127.0.0.1' })).toEqual([
      'METRICS_HOST is set but METRICS_PORT is not: set METRICS_PORT for a separate metrics listener',
    ]);
  });

  it.each([
    ['METRICS_PORT', '0', /METRICS_PORT: expected an integer from 1 to 65535, got "0"/],
    ['METRICS_PORT', '70000', /METRICS_PORT: expected an integer from 1 to 65535/],
    ['HEALTH_PORT', '65536', /HEALTH_PORT: expected an integer from 0 to 65535/],
    ['HEALTH_HOST', '[::]', /HEALTH_HOST: expected an IP address .* without a port, got "\[::\]"/],
    ['METRICS_HOST', 'host:9101', /METRICS_HOST: expected an IP address/],
  ])('refuses %s=%s', (name, value, message) => {
    const found = problems({ METRICS_PORT: '9101', [name]: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
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
