/**
 * `/healthz` (the process is alive and its event loop turns) and `/readyz` (ready: streaming from
 * the slot and Redis reachable) over plain HTTP. Both answer JSON saying why.
 */
import { createServer, type Server } from 'node:http';

export interface HealthState {
  /** `null` when ready, otherwise the reason it is not. */
  notReadyReason(): string | null;
}

export function startHealthServer(port: number, state: HealthState): Promise<Server> {
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
