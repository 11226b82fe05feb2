/** The websocket servers under test: the walcast gateway and the minimal `ws` baseline, as child processes. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '@walcast/local-services';
import { GATEWAY_ENTRY, spawnService } from '@walcast/test-utils';

export interface Server {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `--cpu-prof` into BENCH_PROF_DIR for the services under test, when set. */
export function profileArgs(): string[] {
  const dir = process.env['BENCH_PROF_DIR'];
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/** `redisUrl` may be '' when `env` gives REDIS_CLUSTER_NODES instead. */
export async function startGateway(
  redisUrl: string,
  nodeArgs: string[] = profileArgs(),
  env: Record<string, string> = {},
): Promise<Server> {
  const port = await freePort();
  const gw = await spawnService({
    name: 'gateway',
    entry: GATEWAY_ENTRY,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      LOG_LEVEL: 'warn',
      SOCKET_TIMEOUT: 'infinity',
      ...env,
    },
    nodeArgs,
    readyUrl: `http://127.0.0.1:${port}/readyz`,
  });
  await gw.waitForReady();
  return {
    name: 'walcast gateway (uWS.js)',
    url: `ws://127.0.0.1:${port}/socket/websocket?vsn=1.0.0`,
    pid: gw.pid,
    stop: async () => {
      await gw.stop();
    },
  };
}

/**
 * The baseline subscribes to the one Redis channel `busTopic` and sends every change as `frameTopic`;
 * with `broadcastTopic`, it also relays clients' broadcasts to the other baselines through that channel.
 */
export async function startWsBaseline(
  redisUrl: string,
  busTopic: string,
  frameTopic: string,
  broadcastTopic = '',
): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'baselines', 'ws-fanout-server.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      REDIS_URL: redisUrl,
      TOPIC: busTopic,
      FRAME_TOPIC: frameTopic,
      BROADCAST_TOPIC: broadcastTopic,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ws baseline did not start')), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`ws baseline exited ${code}`)));
  });
  return {
    name: 'ws baseline',
    url: `ws://127.0.0.1:${port}/socket/websocket`,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
