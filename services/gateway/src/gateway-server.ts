/**
 * The gateway's uWS app: websocket endpoints `/socket/websocket` and `/realtime/v1/websocket` and
 * the HTTP routes (http-routes.ts) on PORT, a second app on METRICS_PORT when set, the idle sweep,
 * and the drain on shutdown.
 *
 * Lifecycle: `listen()` → serving → `stop()`: stop accepting, close every socket with
 * ServerShuttingDown (4000, reconnect elsewhere), wait up to the grace period, close the metrics
 * listener last (scrapes and /readyz answer during the drain).
 */
import { ErrorCodes, POSITION_CHANNEL, isBroadcastTopic, slotOfPositionChannel } from '@walcast/protocol';
import { HistoryReader, type Bus } from '@walcast/bus';
import { LogThrottle, type Logger } from '@walcast/logger';
import type { GatewayConfig } from './config';
import { BroadcastRegistry } from './channels/broadcast-registry';
import { BusSubscriptions } from './channels/bus-subscriptions';
import { ChannelRegistry } from './channels/channel-registry';
import { SlotPositions } from './channels/slot-positions';
import { ConnectionHandler } from './ws/connection-handler';
import { broadcastFanout, changeFanout } from './ws/uws-fanout';
import type { SocketData } from './ws/socket-data';
import { authorizeConnect, readUpgradeRequest, socketDataFor, type UpgradeRequest } from './ws/upgrade';
import { JoseTokenVerifier } from './auth/jose-token-verifier';
import type { TokenVerifier } from './auth/token-verifier';
import { GatewayMetrics, type CloseReason } from './metrics';
import { broadcastWriteCheck } from './rls/broadcast-write-check';
import { RowAuthorization } from './rls/row-authorization';
import { createRedisPresenceStore, type PresenceStore, type PresenceTopic } from './presence/presence-store';
import { presenceState } from './channels/presence-binding';
import { addHttpRoutes } from './http-routes';
import { RestBroadcastApi } from './http/rest-broadcast';
import { InspectorPage } from './http/inspector-page';
import {
  CLOSE_ON_BACKPRESSURE_LIMIT,
  listenApp,
  uWS,
  type HttpResponse,
  type TemplatedApp,
  type WebSocket,
  type us_listen_socket,
} from './uws';

/** After Redis comes back, how long presence readers wait for the state to be whole again. */
const PRESENCE_REFRESH_DELAY_MS = 1000;

export const WEBSOCKET_PATHS = ['/socket/websocket', '/realtime/v1/websocket'] as const;

/**
 * uWS drops a socket whose inbound message is over MAX_FRAME_SIZE without a close frame (1006) and
 * says why in the close message; RFC 6455 would use 1009.
 */
const MESSAGE_TOO_BIG = 1009;
const TOO_BIG_TEXT = 'Received too big message';

/** Why a socket the gateway did not close itself was closed, from its close code and message. */
function closeReasonOf(code: number, message: ArrayBuffer): CloseReason {
  if (code === MESSAGE_TOO_BIG || Buffer.from(message).toString('latin1').startsWith(TOO_BIG_TEXT))
    return 'frame_too_large';
  return code === 1006 ? 'lost' : 'client';
}

export class GatewayServer {
  readonly app: TemplatedApp;
  readonly registry: ChannelRegistry;
  readonly broadcasts: BroadcastRegistry;
  /** Who is present on each topic, across gateways (Redis). */
  readonly presence: PresenceStore;
  readonly handler: ConnectionHandler;
  readonly metrics: GatewayMetrics;
  /** The REST broadcast API, served on PORT only. */
  private readonly broadcastApi: RestBroadcastApi;
  /** The inspector page, served on PORT only; null when INSPECTOR is off. */
  private readonly inspector: InspectorPage | null;
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private listenSocket: us_listen_socket | null = null;
  /** Null unless METRICS_PORT is set. */
  private readonly metricsApp: TemplatedApp | null;
  private metricsListenSocket: us_listen_socket | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;
  /** Null when SECURE_CHANNELS is off. */
  private readonly verifier: TokenVerifier | null;
  /** Null when ROW_AUTHORIZATION=off. */
  readonly rowAuth: RowAuthorization | null;
  /** The change history in Redis; null with HISTORY=false. */
  private readonly history: HistoryReader | null;
  private readonly authLog: Logger;
  port = 0;
  /** The bound METRICS_PORT, `null` when /metrics is served on `port`. */
  metricsPort: number | null = null;

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
      deliveryGroups: () => this.registry.groupCount + this.broadcasts.groupCount,
      busSubscriptions: () => this.registry.busSubscriptionCount,
      redisReady: () => this.bus.state === 'ready',
      draining: () => this.draining,
    });
    const { metrics } = this;
    this.verifier = config.auth.isSecure ? new JoseTokenVerifier(config.auth) : null;
    this.authLog = log.child({ component: 'auth' });
    this.rowAuth = config.rowAuth
      ? new RowAuthorization({ config: config.rowAuth, metrics, log: log.child({ component: 'row-auth' }) })
      : null;
    this.history = config.history
      ? new HistoryReader({ ...config.redis, name: `walcast-gateway:${config.instanceId}:history` })
      : null;
    const busLog = log.child({ component: 'bus-subscriptions' });
    // On a Redis Cluster catch-up starts from positions heard per hash slot (slot-positions.ts).
    const slotPositions =
      this.history && config.redis.cluster ? new SlotPositions(bus, this.history, busLog) : null;
    const subscriptions = new BusSubscriptions(bus, busLog, slotPositions);
    this.registry = new ChannelRegistry(
      subscriptions,
      changeFanout(this.app, metrics, config.maxBackpressureBytes),
      metrics,
      log.child({ component: 'fanout' }),
      this.rowAuth?.authorizer ?? null,
      this.history,
    );
    this.broadcasts = new BroadcastRegistry(
      subscriptions,
      bus,
      broadcastFanout(this.app, metrics, config.maxBackpressureBytes),
      metrics,
      log.child({ component: 'broadcast' }),
    );
    this.presence = createRedisPresenceStore({
      redis: config.redis,
      gatewayId: this.broadcasts.src,
      leaseMs: config.presenceLeaseMs,
      log: log.child({ component: 'presence' }),
      metrics,
    });
    // After Redis lost presences (this gateway's are re-asserted: a restart, or our lease lapsed),
    // or its members may have missed diffs (Redis was away), they get the whole state again.
    this.presence.onResync((topics) => this.refreshPresence(topics));
    this.handler = new ConnectionHandler({
      rowAuth: this.rowAuth ? { catalog: this.rowAuth.catalog } : null,
      registry: this.registry,
      broadcasts: this.broadcasts,
      privateChannels: this.rowAuth
        ? { authorizer: this.rowAuth.channels, replay: this.rowAuth.replay }
        : null,
      presence: this.presence,
      presenceLimits: config.presence,
      privateOnly: config.privateOnly,
      joinTimeoutMs: config.joinTimeoutMs,
      limits: config.limits,
      verifier: this.verifier,
      metrics,
      log: log.child({ component: 'channels' }),
    });
    this.broadcastApi = new RestBroadcastApi({
      broadcasts: this.broadcasts,
      verifier: this.verifier,
      // With SECURE_CHANNELS off every channel is open, private ones too.
      privateWrite: this.rowAuth
        ? broadcastWriteCheck(this.rowAuth.channels)
        : this.verifier
          ? null
          : () => Promise.resolve(true),
      limits: {
        maxPayloadBytes: config.limits.maxBroadcastBytes,
        maxDepth: config.limits.maxFrameDepth,
        maxBodyBytes: config.rest.maxBodyBytes,
        maxBroadcastsPerSecond: config.rest.maxBroadcastsPerSecond,
      },
      metrics,
      log: log.child({ component: 'rest-broadcast' }),
    });
    this.inspector = config.servesInspector
      ? InspectorPage.load(log.child({ component: 'inspector' }))
      : null;
    bus.onMessage((via, topic, message) => {
      if (isBroadcastTopic(topic)) this.broadcasts.dispatch(via, message);
      else if (topic === POSITION_CHANNEL) this.registry.heard(message);
      else if (slotPositions && topic.startsWith(POSITION_CHANNEL))
        this.registry.heard(message, slotOfPositionChannel(topic));
      else this.registry.dispatch(via, topic, message);
    });
    // Where catch-up starts for tables this gateway has heard nothing of.
    if (this.history && !slotPositions) {
      bus.subscribe({ topic: POSITION_CHANNEL }).catch((err: unknown) => {
        log.warn({ err, code: 'BusUnavailable' }, 'could not subscribe to the position announcements');
      });
    }
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
      if (state === 'reconnecting') this.registry.busLost();
      if (state === 'ready' && wasReady) {
        this.registry.busReconnected();
        // Presence diffs may have been missed meanwhile: readers get the state again, once the
        // gateways have had time to re-assert their presences (a Redis that restarted is empty
        // until then, and an early state would show everyone leave and come back).
        setTimeout(
          () => this.refreshPresence(this.broadcasts.presenceTopics()),
          PRESENCE_REFRESH_DELAY_MS,
        ).unref();
      }
      if (state === 'ready') wasReady = true;
    });
    this.routes();
    this.metricsApp = config.metricsPort === null ? null : uWS.App();
    if (this.metricsApp) this.serveHttp(this.metricsApp, true);
  }

  /**
   * A fresh `presence_state` to the presence readers of `topics` on this gateway, once the gateways
   * have had time to re-assert their presences (a Redis that restarted is empty until then, and an
   * early state would show everyone leave and come back).
   */
  private refreshPresence(topics: readonly PresenceTopic[]): void {
    setTimeout(() => {
      for (const topic of topics) {
        void this.presence.list(topic).then(
          (entries) =>
            this.broadcasts.pushPresenceState(topic.subtopic, topic.isPrivate, presenceState(entries)),
          () => undefined, // Redis away again: the next resync tries again
        );
      }
    }, PRESENCE_REFRESH_DELAY_MS).unref();
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

  /** Listens on PORT, then on METRICS_PORT when set; resolves with the bound PORT. */
  async listen(): Promise<number> {
    this.rowAuth?.start();
    this.presence.start();
    this.listenSocket = await listenApp(this.app, this.config.host, this.config.port);
    this.port = uWS.us_socket_local_port(this.listenSocket as never);
    if (this.metricsApp && this.config.metricsPort !== null) {
      try {
        this.metricsListenSocket = await listenApp(
          this.metricsApp,
          this.config.metricsHost,
          this.config.metricsPort,
        );
      } catch (err) {
        uWS.us_listen_socket_close(this.listenSocket);
        this.listenSocket = null;
        throw err;
      }
      this.metricsPort = uWS.us_socket_local_port(this.metricsListenSocket as never);
    }
    this.startIdleSweep();
    return this.port;
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
    if (this.metricsListenSocket) uWS.us_listen_socket_close(this.metricsListenSocket);
    this.metricsListenSocket = null;
    // What this gateway tracked leaves everywhere (its sockets' untracks may still be in flight).
    await this.presence.stop().catch(() => undefined);
    await this.rowAuth?.stop().catch(() => undefined);
    this.history?.close();
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
      close: (ws: WebSocket<SocketData>, code: number, message: ArrayBuffer) => {
        const { closeReason } = ws.getUserData();
        const reason = closeReason ?? closeReasonOf(code, message);
        this.metrics.closes.inc({ reason });
        if (reason === 'frame_too_large') this.metrics.limitRefusals.inc({ limit: 'frame_bytes' });
        this.sockets.delete(ws);
        this.handler.onClose(ws);
      },
    };
    for (const path of WEBSOCKET_PATHS) this.app.ws<SocketData>(path, behavior);
    this.serveHttp(this.app, this.config.metricsPort === null, true);
  }

  private serveHttp(app: TemplatedApp, withMetrics: boolean, isPublic = false): void {
    addHttpRoutes(app, {
      notReadyReason: () => this.notReadyReason(),
      metrics: withMetrics ? this.metrics : null,
      broadcastApi: isPublic ? this.broadcastApi : null,
      inspector: isPublic ? this.inspector : null,
      log: this.log,
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
