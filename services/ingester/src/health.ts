/**
 * `/healthz` (the process is alive and its event loop turns), `/readyz` (ready: streaming from the
 * slot, or a healthy standby, and Redis reachable) and `/metrics` (Prometheus text) over plain HTTP.
 */
import { createServer, type Server } from 'node:http';

export interface HealthState {
  /** `null` when ready, otherwise the reason it is not. */
  notReadyReason(): string | null;
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

export function startHealthServer(port: number, state: HealthState, metrics: MetricsSource): Promise<Server> {
  const server = createServer((req, res) => {
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
    if (path === '/metrics') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
