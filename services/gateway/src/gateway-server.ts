/**
 * The gateway's uWS app: websocket endpoints `/socket/websocket` and `/realtime/v1/websocket`,
 * `/healthz`, `/readyz` and `/metrics` on the same port, the idle sweep, and the drain on shutdown.
 *
 * Lifecycle: `listen()` → serving → `stop()`: stop accepting, close every socket with
 * ServerShuttingDown (4000, reconnect elsewhere), wait up to the grace period, close the bus.
 */
import { ErrorCodes } from '@walcast/protocol';
import type { Bus } from '@walcast/bus';
import { LogThrottle, type Logger } from '@walcast/logger';
import type { GatewayConfig } from './config';
import { BusSubscriptions } from './channels/bus-subscriptions';
import { ChannelRegistry } from './channels/channel-registry';
import { ConnectionHandler } from './ws/connection-handler';
import { sendFragmented } from './ws/frames';
import { gatewaySocket, type SocketData } from './ws/socket-data';
import { authorizeConnect, readUpgradeRequest, socketDataFor, type UpgradeRequest } from './ws/upgrade';
import { JoseTokenVerifier } from './auth/jose-token-verifier';
import type { TokenVerifier } from './auth/token-verifier';
import { GatewayMetrics } from './metrics';
import {
  CLOSE_ON_BACKPRESSURE_LIMIT,
  uWS,
  type HttpResponse,
  type TemplatedApp,
  type WebSocket,
  type us_listen_socket,
} from './uws';

export const WEBSOCKET_PATHS = ['/socket/websocket', '/realtime/v1/websocket'] as const;

export class GatewayServer {
  readonly app: TemplatedApp;
  readonly registry: ChannelRegistry;
  readonly handler: ConnectionHandler;
  readonly metrics: GatewayMetrics;
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private listenSocket: us_listen_socket | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;
  /** Null when SECURE_CHANNELS is off. */
  private readonly verifier: TokenVerifier | null;
  private readonly authLog: Logger;
  port = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {
    this.app = uWS.App();
    this.metrics = new GatewayMetrics({
      connections: () => this.sockets.size,
      channels: () => {
        let n = 0;
        for (const ws of this.sockets) n += ws.getUserData().channels.size;
        return n;
      },
      deliveryGroups: () => this.registry.groupCount,
      busSubscriptions: () => this.registry.busSubscriptionCount,
      redisReady: () => this.bus.state === 'ready',
      draining: () => this.draining,
    });
    const { metrics } = this;
    this.verifier = config.auth.isSecure ? new JoseTokenVerifier(config.auth) : null;
    this.authLog = log.child({ component: 'auth' });
    const subscriptions = new BusSubscriptions(bus, log.child({ component: 'bus-subscriptions' }));
    this.registry = new ChannelRegistry(
      subscriptions,
      {
        publish: (topic, frame) => {
          const sockets = this.app.numSubscribers(topic);
          if (sockets === 0) return;
          this.app.publish(topic, frame, false, false);
          metrics.framesOut.inc(sockets);
          metrics.bytesOut.inc(sockets * Buffer.byteLength(frame));
        },
        sendLarge: (sockets, frame) => {
          const bytes = Buffer.from(frame);
          for (const ws of sockets) {
            sendFragmented(
              gatewaySocket(ws),
              bytes,
              config.maxBackpressureBytes,
              ErrorCodes.SlowConsumer.close,
            );
            metrics.framesOut.inc();
            metrics.bytesOut.inc(bytes.length);
          }
        },
      },
      metrics,
      log.child({ component: 'fanout' }),
    );
    this.handler = new ConnectionHandler({
      registry: this.registry,
      joinTimeoutMs: config.joinTimeoutMs,
      verifier: this.verifier,
      metrics,
      log: log.child({ component: 'channels' }),
    });
    bus.onMessage((via, topic, message) => this.registry.dispatch(via, topic, message));
    const lostThrottle = new LogThrottle({ max: 10, windowMs: 60_000 });
    this.registry.onChangesLost((groups, reason) => {
      const ended = this.handler.failChannels(groups);
      if (ended === 0) return;
      metrics.channelsFailed.inc({ reason }, ended);
      lostThrottle.warn(
        log,
        { channels: ended, reason, code: 'ChangesMissed' },
        'channels that may have missed changes were ended; clients rejoin',
      );
    });
    let wasReady = false;
    bus.onStateChange((state) => {
      if (state === 'ready' && wasReady) this.registry.busReconnected();
      if (state === 'ready') wasReady = true;
    });
    this.routes();
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** `null` when ready for traffic, else why not. */
  notReadyReason(): string | null {
    if (this.draining) return 'draining';
    if (this.bus.state !== 'ready') return `redis ${this.bus.state}`;
    return null;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.config.host, this.config.port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.config.host}:${this.config.port}`));
          return;
        }
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket as never);
        this.startIdleSweep();
        resolve(this.port);
      });
    });
  }

  async stop(): Promise<void> {
    this.draining = true;
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const { close } = ErrorCodes.ServerShuttingDown;
    for (const ws of this.sockets) {
      if (ws.getUserData().closed) continue;
      ws.getUserData().closeReason = 'shutdown';
      ws.end(close, 'server shutting down');
    }
    const deadline = Date.now() + this.config.shutdownGraceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.sockets) if (!ws.getUserData().closed) ws.close();
  }

  private routes(): void {
    const behavior = {
      maxPayloadLength: this.config.maxFrameBytes,
      maxBackpressure: this.config.maxBackpressureBytes,
      closeOnBackpressureLimit: CLOSE_ON_BACKPRESSURE_LIMIT,
      // Phoenix semantics: SOCKET_TIMEOUT counts inbound frames only; the sweep below enforces it.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (
        res: HttpResponse,
        req: Parameters<NonNullable<uWS.WebSocketBehavior<SocketData>['upgrade']>>[1],
        context: unknown,
      ) => {
        const request = readUpgradeRequest(res, req);
        if (this.draining) res.writeStatus('503 Service Unavailable').end();
        else if (!this.verifier) this.answerUpgrade(res, request, context, socketDataFor(request));
        else this.upgradeAfterAuth(res, request, context, this.verifier);
      },
      open: (ws: WebSocket<SocketData>) => {
        this.sockets.add(ws);
      },
      message: (ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean) =>
        this.handler.onMessage(ws, message, isBinary),
      close: (ws: WebSocket<SocketData>, code: number) => {
        const { closeReason } = ws.getUserData();
        this.metrics.closes.inc({ reason: closeReason ?? (code === 1006 ? 'lost' : 'client') });
        this.sockets.delete(ws);
        this.handler.onClose(ws);
      },
    };
    for (const path of WEBSOCKET_PATHS) this.app.ws<SocketData>(path, behavior);
    this.app.get('/healthz', (res) => {
      res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
    });
    this.app.get('/readyz', (res) => {
      const reason = this.notReadyReason();
      res
        .writeStatus(reason === null ? '200 OK' : '503 Service Unavailable')
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify(reason === null ? { status: 'ready' } : { status: 'not ready', reason }));
    });
    this.app.get('/metrics', (res) => {
      let isAborted = false;
      res.onAborted(() => (isAborted = true));
      this.metrics.render().then(
        (text) => {
          if (!isAborted) res.cork(() => res.writeHeader('content-type', this.metrics.contentType).end(text));
        },
        (err: unknown) => {
          this.log.error({ err, code: 'InternalError' }, 'metrics failed');
          if (!isAborted) res.cork(() => res.writeStatus('500 Internal Server Error').end());
        },
      );
    });
    this.app.any('/*', (res) => {
      res
        .writeStatus('404 Not Found')
        .writeHeader('content-type', 'application/json')
        .end('{"error":"not found"}');
    });
  }

  /** Checks the connect token, then answers on the (still open) request, corked. */
  private upgradeAfterAuth(
    res: HttpResponse,
    request: UpgradeRequest,
    context: unknown,
    verifier: TokenVerifier,
  ): void {
    let isAborted = false;
    res.onAborted(() => (isAborted = true));
    authorizeConnect(request, verifier, this.authLog, this.metrics)
      .then((auth) => {
        if (isAborted) return;
        const data = 'status' in auth ? auth : socketDataFor(request, auth.token);
        res.cork(() => this.answerUpgrade(res, request, context, data));
      })
      .catch((err: unknown) => {
        this.authLog.error({ err, code: 'InternalError' }, 'connect check failed');
        if (!isAborted) res.cork(() => res.writeStatus('500 Internal Server Error').end());
      });
  }

  private answerUpgrade(
    res: HttpResponse,
    request: UpgradeRequest,
    context: unknown,
    data: SocketData | { status: string },
  ): void {
    if ('status' in data) {
      res.writeStatus(data.status).end();
      return;
    }
    res.upgrade(
      data,
      request.headers.secKey,
      request.headers.secProtocol,
      request.headers.secExtensions,
      context as never,
    );
  }

  /** Closes sockets that sent nothing for SOCKET_TIMEOUT (heartbeats count), with IdleTimeout (4003). */
  private startIdleSweep(): void {
    const timeout = this.config.socketTimeoutMs;
    if (!Number.isFinite(timeout)) return;
    const every = Math.max(100, Math.min(1000, Math.floor(timeout / 4)));
    this.sweepTimer = setInterval(() => {
      const cutoff = Date.now() - timeout;
      for (const ws of this.sockets) {
        const data = ws.getUserData();
        if (data.closed || data.lastInboundAt >= cutoff) continue;
        data.closeReason = 'idle';
        ws.end(ErrorCodes.IdleTimeout.close, 'idle timeout');
      }
    }, every);
    this.sweepTimer.unref();
  }
}
