/**
 * A running walcast for end-to-end tests: the built ingester and N gateways as real child
 * processes (`node services/<name>/dist/main.js`), configured only by environment, against the test's
 * own PostgreSQL and Redis (or Redis Cluster, when the backends have one). Requires `pnpm build`
 * first (the test command does it).
 */
import { resolve } from 'node:path';
import { Client } from 'pg';
import { freePort } from '@walcast/local-services';
import type { Backends } from './backends';
import { spawnService, type ServiceProcess } from './service-process';
import { startBackends } from './start-backends';

const root = resolve(__dirname, '../../..'); // packages/test-utils/src (or dist) → repository root
export const INGESTER_ENTRY = resolve(root, 'services/ingester/dist/main.js');
export const GATEWAY_ENTRY = resolve(root, 'services/gateway/dist/main.js');

export interface StackOptions {
  gateways?: number;
  slot?: string;
  publication?: string;
  ingesterEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  /** Environment of gateway `index` alone, over `gatewayEnv` (e.g. a REDIS_URL through a TcpProxy). */
  gatewayEnvAt?: (index: number) => Record<string, string>;
}

export class WalcastStack {
  ingester: ServiceProcess | null = null;
  readonly gateways: Array<ServiceProcess | null> = [];
  readonly gatewayPorts: number[] = [];
  healthPort = 0;

  private constructor(
    readonly backends: Backends,
    readonly opts: Required<Pick<StackOptions, 'slot' | 'publication'>> & StackOptions,
  ) {}

  static async start(backends: Backends, opts: StackOptions = {}): Promise<WalcastStack> {
    const stack = new WalcastStack(backends, { slot: 'walcast', publication: 'supabase_realtime', ...opts });
    stack.healthPort = await freePort();
    for (let i = 0; i < (opts.gateways ?? 1); i++) stack.gatewayPorts.push(await freePort());
    await Promise.all([stack.startIngester(), ...stack.gatewayPorts.map((_, i) => stack.startGateway(i))]);
    return stack;
  }

  async startIngester(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const ingester = await spawnService({
      name: 'ingester',
      entry: INGESTER_ENTRY,
      env: {
        DATABASE_URL: this.backends.pg.url,
        ...this.redisEnv(),
        SLOT_NAME: this.opts.slot,
        PUBLICATION: this.opts.publication,
        HEALTH_PORT: String(this.healthPort),
        LOG_LEVEL: 'info',
        RECONNECT_MAX_DELAY: '1s',
        ...this.opts.ingesterEnv,
        ...env,
      },
      readyUrl: `http://127.0.0.1:${this.healthPort}/readyz`,
    });
    this.ingester = ingester;
    await ingester.waitForReady();
    return ingester;
  }

  async startGateway(index: number, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const port = this.gatewayPorts[index]!;
    const gateway = await spawnService({
      name: `gateway-${index}`,
      entry: GATEWAY_ENTRY,
      env: {
        PORT: String(port),
        ...this.redisEnv(),
        // Row authorization reads it (and, with channels open, the start-up check of RLS tables).
        DATABASE_URL: this.backends.pg.url,
        LOG_LEVEL: 'info',
        ...this.opts.gatewayEnv,
        ...this.opts.gatewayEnvAt?.(index),
        ...env,
      },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
    });
    this.gateways[index] = gateway;
    await gateway.waitForReady();
    return gateway;
  }

  /** Where the services find Redis: the backends' Redis Cluster when they have one, else their Redis. */
  redisEnv(): Record<string, string> {
    const cluster = this.backends.redisCluster;
    return cluster ? { REDIS_CLUSTER_NODES: cluster.seeds } : { REDIS_URL: this.backends.redis.url };
  }

  /** `ws://127.0.0.1:<port>` + path; realtime-js appends `/websocket` to what it is given. */
  endpoint(index = 0, path = '/socket'): string {
    return `ws://127.0.0.1:${this.gatewayPorts[index]}${path}`;
  }

  async stop(): Promise<void> {
    await Promise.all([this.ingester?.stop(), ...this.gateways.map((g) => g?.stop())]);
  }
}

/**
 * What most integration test files start from: PostgreSQL and Redis of their own, `schema` run on
 * the database (tables, publication…), then the built services with `opts`.
 */
export async function startStackWithSchema(
  schema: readonly string[],
  opts: StackOptions = {},
): Promise<{ backends: Backends; stack: WalcastStack }> {
  const backends = await startBackends();
  await sql(backends.pg.url, ...schema);
  return { backends, stack: await WalcastStack.start(backends, opts) };
}

/** Runs SQL statements on the test database, one connection per call. */
export async function sql(url: string, ...statements: string[]): Promise<Array<Record<string, unknown>>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    let rows: Array<Record<string, unknown>> = [];
    for (const statement of statements) rows = (await client.query(statement)).rows;
    return rows;
  } finally {
    await client.end();
  }
}
