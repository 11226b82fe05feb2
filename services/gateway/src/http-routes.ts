/**
 * The gateway's plain HTTP routes on a uWS app: `/healthz` (the process runs), `/readyz` (connected
 * to Redis and not draining, else 503 with the reason), `/metrics` (Prometheus text) where asked,
 * the REST broadcast API and, when INSPECTOR is on, the inspector page on the public app
 * (http/rest-broadcast.ts, http/inspector-page.ts), and 404 for anything else.
 *
 * Without METRICS_PORT the public app gets them all. With it, the public app keeps the probes
 * (existing health checks go on working) and answers 404 for `/metrics`; the metrics app serves
 * all three.
 */
import type { Logger } from '@walcast/logger';
import type { InspectorPage } from './http/inspector-page';
import type { RestBroadcastApi } from './http/rest-broadcast';
import type { GatewayMetrics } from './metrics';
import type { TemplatedApp } from './uws';

export interface HttpRoutesOptions {
  /** `null` when ready for traffic, else why not. */
  notReadyReason(): string | null;
  /** `null`: this app does not serve `/metrics`. */
  metrics: Pick<GatewayMetrics, 'render' | 'contentType'> | null;
  /** `null`: this app does not serve the REST broadcast API (the metrics app). */
  broadcastApi?: Pick<RestBroadcastApi, 'addRoutes'> | null;
  /** `null`: this app does not serve the inspector (INSPECTOR=false, or the metrics app). */
  inspector?: Pick<InspectorPage, 'addRoutes'> | null;
  log: Logger;
}

/** Adds the HTTP routes to `app`; call after its websocket routes (the 404 catches the rest). */
export function addHttpRoutes(app: TemplatedApp, opts: HttpRoutesOptions): void {
  app.get('/healthz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
  });
  app.get('/readyz', (res) => {
    const reason = opts.notReadyReason();
    res
      .writeStatus(reason === null ? '200 OK' : '503 Service Unavailable')
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify(reason === null ? { status: 'ready' } : { status: 'not ready', reason }));
  });
  const { metrics } = opts;
  if (metrics) {
    app.get('/metrics', (res) => {
      let isAborted = false;
      res.onAborted(() => (isAborted = true));
      metrics.render().then(
        (text) => {
          if (!isAborted) res.cork(() => res.writeHeader('content-type', metrics.contentType).end(text));
        },
        (err: unknown) => {
          opts.log.error({ err, code: 'InternalError' }, 'metrics failed');
          if (!isAborted) res.cork(() => res.writeStatus('500 Internal Server Error').end());
        },
      );
    });
  }
  opts.broadcastApi?.addRoutes(app);
  opts.inspector?.addRoutes(app);
  app.any('/*', (res) => {
    res
      .writeStatus('404 Not Found')
      .writeHeader('content-type', 'application/json')
      .end('{"error":"not found"}');
  });
}
