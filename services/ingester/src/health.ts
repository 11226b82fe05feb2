/**
 * `/healthz` (the process is alive and its event loop turns), `/readyz` (ready: streaming from the
 * slot, or a healthy standby, and Redis reachable) and `/metrics` (Prometheus text) over plain HTTP.
 *
 * One listener on HEALTH_PORT serves all three. With METRICS_PORT a second listener serves all
 * three too, and HEALTH_PORT answers 404 for `/metrics` (its probes keep working).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthState {
  /** `null` when ready, otherwise the reason it is not. */
  notReadyReason(): string | null;
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

export interface HttpListener {
  /** `undefined`: every interface. */
  host: string | undefined;
  port: number;
}

export interface HealthServers {
  /** Bound `host:port` of the probes listener, and of the listener serving `/metrics`. */
  readonly addresses: Readonly<{ health: string; metrics: string }>;
  close(): void;
}

/** Starts the HEALTH_PORT listener and, with `metricsListener`, the METRICS_PORT one. */
export async function startHealthServers(
  healthListener: HttpListener,
  metricsListener: HttpListener | null,
  state: HealthState,
  metrics: MetricsSource,
): Promise<HealthServers> {
  const health = await listen(createHealthServer(state, metricsListener ? null : metrics), healthListener);
  let separate: Server | null = null;
  if (metricsListener) {
    try {
      separate = await listen(createHealthServer(state, metrics), metricsListener);
    } catch (err) {
      health.close();
      throw err;
    }
  }
  return {
    addresses: { health: addressOf(health), metrics: addressOf(separate ?? health) },
    close: () => {
      health.close();
      separate?.close();
    },
  };
}

/** `metrics` null: this listener answers 404 for `/metrics`. */
function createHealthServer(state: HealthState, metrics: MetricsSource | null): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      const reason = state.notReadyReason();
      res
        .writeHead(reason === null ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(reason === null ? { status: 'ready' } : { status: 'not ready', reason }));
      return;
    }
    if (path === '/metrics' && metrics) {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
}

function listen(server: Server, { host, port }: HttpListener): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function addressOf(server: Server): string {
  const { address, family, port } = server.address() as AddressInfo;
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}
