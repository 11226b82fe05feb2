/**
 * The Phoenix channel protocol for one socket: heartbeats, joins, leaves, token pushes, and the
 * answer to anything malformed. One instance serves every socket of the gateway.
 *
 * Invariants:
 * - A client fault (malformed frame, bad topic, bad filter) is answered to that client only, as
 *   an error reply `"<Code>: <message>"`; the socket stays open and nothing else is affected.
 * - A legacy join is answered `ok` only once the channel's bus subscription is live, so a row
 *   committed after the reply is delivered (docs/protocol.md L2, M2).
 * - Every membership a socket holds is released when it leaves, rejoins or closes.
 * - With SECURE_CHANNELS, a join and an `access_token` push wait for their token check; frames that
 *   arrive meanwhile are queued on the socket and handled afterwards, in order. The token rules themselves
 *   (verification, refresh, expiry) live in ChannelAuth.
 * - Every request is held to the client limits (client-limits.ts) before work proportional to it is
 *   done; replies and logs repeat at most a short prefix of what the client sent. An exception while
 *   handling a frame is answered to that socket with InternalError and never escapes to uWS.
 */
import {
  ErrorCodes,
  FrameTooDeepError,
  PHOENIX_TOPIC,
  PhoenixEvents,
  ProtocolError,
  TopicError,
  clip,
  errorReason,
  parseLegacySubtopic,
  subtopicOf,
  type LegacyTarget,
  type PhoenixMessage,
} from '@walcast/protocol';
import { LogThrottle, type Logger } from '@walcast/logger';
import type { BusKey } from '@walcast/bus';
import { AuthError } from '../auth/auth-error';
import { channelToken, type TokenVerifier, type VerifiedToken } from '../auth/token-verifier';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { bindingId, parseBinding, type Binding } from '../channels/postgres-changes-binding';
import type { DeliveryGroup } from '../channels/delivery-group';
import { RowFilter } from '../filters/row-filter';
import { busKeyForLegacy, type ChannelMembership, type ChannelRegistry } from '../channels/channel-registry';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { ChannelAuth, pushTokenFailure } from './channel-auth';
import { identityOf, type Identity } from '../rls/identity';
import { joinProblems, type JoinTarget } from '../rls/join-checks';
import type { TableAccessCatalog } from '../rls/table-access';
import {
  JoinRate,
  checkBindings,
  checkChannels,
  checkSubscriptions,
  checkTopic,
  joinRateRefusal,
  longestTopicChars,
  type Refusal,
} from './client-limits';
import { pushLifecycle, push, reply } from './frames';
import { gatewaySocket, type SocketData } from './socket-data';

export interface ConnectionHandlerOptions {
  registry: ChannelRegistry;
  joinTimeoutMs: number;
  limits: ClientLimits;
  /** ROW_AUTHORIZATION=postgres: channels read as their JWT's role and claims; else null. */
  rowAuth: { catalog: TableAccessCatalog } | null;
  /** Null when SECURE_CHANNELS is off: joins need no token. */
  verifier: TokenVerifier | null;
  metrics: GatewayMetrics;
  log: Logger;
}

/** Frames a socket may send while one of its token checks is pending; later ones are refused. */
export const MAX_QUEUED_FRAMES = 100;

export class ConnectionHandler {
  /** Token checks of joins and channels; null when SECURE_CHANNELS is off. */
  private readonly auth: ChannelAuth | null;
  /** Refused joins and malformed frames are logged, but a client cannot flood the log with them. */
  private readonly refusalLog = new LogThrottle({ max: 20, windowMs: 10_000 });

  constructor(private readonly opts: ConnectionHandlerOptions) {
    this.auth = opts.verifier
      ? new ChannelAuth({
          verifier: opts.verifier,
          metrics: opts.metrics,
          log: opts.log,
          endChannel: (ws, membership) => {
            this.release(ws, membership);
            ws.getUserData().channels.delete(membership.topic);
          },
          claimsChanged: (ws, membership) => this.regroup(ws, membership),
        })
      : null;
  }

  onMessage(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    data.lastInboundAt = Date.now();
    if (isBinary) {
      this.protocolError(ws, new ProtocolError(`binary frames are not accepted on vsn=${data.codec.vsn}`));
      return;
    }
    let msg: PhoenixMessage;
    try {
      msg = data.codec.decode(Buffer.from(message).toString('utf8'), this.opts.limits.maxFrameDepth);
    } catch (err) {
      if (err instanceof FrameTooDeepError) this.opts.metrics.limitRefusals.inc({ limit: 'frame_depth' });
      this.protocolError(ws, err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    try {
      this.dispatch(ws, msg);
    } catch (err) {
      this.internalError(ws, msg, err);
    }
  }

  /** Routes `msg`, or queues it behind a pending token check. */
  private dispatch(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
    const data = ws.getUserData();
    if (data.inbox) {
      if (data.inbox.length < MAX_QUEUED_FRAMES) data.inbox.push(msg);
      else {
        const why = `more than ${MAX_QUEUED_FRAMES} frames sent while a token check is pending`;
        this.protocolError(ws, new ProtocolError(why, msg.ref, msg.topic));
      }
      return;
    }
    const pending = this.route(ws, msg);
    if (pending) this.holdInbox(ws, data, pending);
  }

  /** Queues inbound frames until `pending` settles, then handles them (corked) in order. */
  private holdInbox(ws: WebSocket<SocketData>, data: SocketData, pending: Promise<void>): void {
    data.inbox = [];
    void pending
      .catch((err: unknown) =>
        this.opts.log.error({ err, connId: data.id, code: 'InternalError' }, 'token check failed'),
      )
      .then(() => {
        const queued = (data.inbox ?? []) as PhoenixMessage[];
        data.inbox = null;
        if (data.closed || queued.length === 0) return;
        ws.cork(() => {
          while (queued.length > 0 && !data.closed) {
            const msg = queued.shift()!;
            let next: Promise<void> | undefined;
            try {
              next = this.route(ws, msg);
            } catch (err) {
              this.internalError(ws, msg, err);
            }
            if (next) {
              this.holdInbox(ws, data, next);
              data.inbox!.push(...queued);
              return;
            }
          }
        });
      });
  }

  /**
   * Ends every joined membership of `groups` with `phx_error`, as Phoenix does when a channel
   * process dies: clients rejoin by themselves (and applications refetch on SUBSCRIBED), so changes
   * the gateway could not deliver are never missed silently. Memberships still waiting for their
   * subscription have missed nothing and are left alone. Returns how many channels were ended.
   */
  failChannels(groups: readonly DeliveryGroup[]): number {
    let ended = 0;
    for (const group of groups) {
      for (const ws of group.memberSockets().map(gatewaySocket)) {
        const data = ws.getUserData();
        if (data.closed) continue;
        for (const membership of [...data.channels.values()]) {
          if (membership.group !== group || membership.state !== 'joined') continue;
          this.end(ws, membership);
          ws.cork(() => pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.error));
          ended++;
        }
      }
    }
    return ended;
  }

  /**
   * Moves a channel whose claims changed (an `access_token` push) to the group of its new identity,
   * so the next change is judged for the new claims. Only with row authorization.
   */
  private regroup(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    const data = ws.getUserData();
    const old = membership.group;
    if (!this.opts.rowAuth || !old || !membership.rebuild || !membership.claims) return;
    const identity = identityOf(membership.claims);
    if ('error' in identity) {
      this.end(ws, membership);
      pushTokenFailure(ws, membership, 'InvalidJWTToken: Fields `role` and `exp` are required in JWT');
      return;
    }
    if (old.rowAccess?.identity.key === identity.key) return;
    const next = membership.rebuild(identity);
    membership.group = next;
    next.add(ws);
    if (membership.state === 'joined') {
      ws.unsubscribe(old.uwsTopic(data.codec.vsn));
      ws.subscribe(next.uwsTopic(data.codec.vsn));
    }
    old.remove(ws);
    this.opts.registry.releaseIfEmpty(old);
  }

  onClose(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.closed = true;
    for (const membership of data.channels.values()) this.release(ws, membership);
    data.channels.clear();
  }

  /** Handles one frame; a promise when it waits for a token check. */
  private route(ws: WebSocket<SocketData>, msg: PhoenixMessage): Promise<void> | undefined {
    const data = ws.getUserData();
    if (msg.topic === PHOENIX_TOPIC && msg.event === PhoenixEvents.heartbeat) {
      reply(ws, msg, 'ok', {});
      return;
    }
    if (msg.topic.length > longestTopicChars(this.opts.limits)) {
      // No channel can have this topic: answer on a prefix of it rather than echo it whole.
      this.refuse(ws, { ...msg, topic: clip(msg.topic, 64) }, checkTopic(msg.topic, true, this.opts.limits)!);
      return;
    }
    if (msg.event === PhoenixEvents.join) return this.join(ws, msg);
    const membership = data.channels.get(msg.topic);
    if (msg.event === PhoenixEvents.leave) {
      if (membership) this.leave(ws, membership, msg);
      else reply(ws, msg, 'ok', {});
      return;
    }
    if (!membership) {
      // Phoenix answers any other message on a topic that is not joined this way.
      reply(ws, msg, 'error', { reason: 'unmatched topic' });
      return;
    }
    if (msg.event === PhoenixEvents.accessToken) return this.auth?.refresh(ws, membership, msg.payload);
    // Every other event on a joined channel is ignored (legacy servers crashed the channel here,
    // which made clients rejoin in a loop).
    return;
  }

  private join(ws: WebSocket<SocketData>, msg: PhoenixMessage): Promise<void> | undefined {
    const data = ws.getUserData();
    const { limits } = this.opts;
    const now = Date.now();
    if (!(data.joinRate ??= new JoinRate(limits.maxJoinsPerSecond, now)).take(now)) {
      // As the original server: refuse, then disconnect (the client reconnects with backoff).
      this.refuse(ws, msg, joinRateRefusal(limits));
      data.closeReason = 'join_rate';
      ws.end(ErrorCodes.ClientJoinRateLimitReached.close, 'too many joins per second');
      return;
    }
    const subtopic = subtopicOf(msg.topic);
    if (subtopic === null) {
      this.joinError(ws, msg, 'unmatched topic');
      return;
    }
    const payload = isObject(msg.payload) ? msg.payload : {};
    const refusal =
      checkChannels(data.channels.size, data.channels.has(msg.topic), limits) ??
      checkTopic(msg.topic, 'config' in payload, limits);
    if (refusal) {
      this.refuse(ws, msg, refusal);
      return;
    }
    const { auth } = this;
    if (!auth) return this.joinVerified(ws, msg, subtopic, payload, null);
    const token = channelToken(payload, data.connectToken);
    return auth.check(token).then((result) => {
      if (data.closed) return;
      let pending: Promise<void> | undefined;
      ws.cork(() => {
        if (result instanceof AuthError) {
          auth.refuseJoin(ws, msg, 'config' in payload, result);
          return;
        }
        pending = this.joinVerified(ws, msg, subtopic, payload, { token: token!, verified: result });
      });
      return pending;
    });
  }

  private joinVerified(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    payload: Record<string, unknown>,
    auth: { token: string; verified: VerifiedToken } | null,
  ): Promise<void> | undefined {
    const data = ws.getUserData();
    const rowAuth = this.opts.rowAuth && auth ? identityOf(auth.verified.claims) : null;
    if (rowAuth && 'error' in rowAuth) {
      // The original server's refusal of a token without `role`.
      this.joinError(ws, msg, 'InvalidJWTToken: Fields `role` and `exp` are required in JWT');
      return;
    }
    const previous = data.channels.get(msg.topic);
    if (previous) {
      // A second join of a joined topic replaces the first (Phoenix shuts the old channel down).
      this.end(ws, previous);
      pushLifecycle(ws, msg.topic, previous.joinRef, PhoenixEvents.close);
    }
    const authorize = (): void => {
      const membership = data.channels.get(msg.topic);
      if (auth && membership && membership.request.ref === msg.ref && membership.token === null)
        this.auth?.authorize(ws, membership, auth.token, auth.verified);
    };
    const pending =
      'config' in payload
        ? this.joinModern(ws, msg, subtopic, payload.config, rowAuth)
        : this.joinLegacy(ws, msg, subtopic, rowAuth);
    if (!pending) {
      authorize();
      return;
    }
    return pending.then(() => {
      if (!data.closed) ws.cork(authorize);
    });
  }

  /**
   * Row authorization's checks of a join (the role exists; its filters and `select` name readable
   * columns), then `proceed` with the problem of each target (null: none), corked. When the database
   * cannot answer, `unavailable` instead. Nothing is checked without row authorization.
   */
  private checkRows(
    ws: WebSocket<SocketData>,
    identity: Identity,
    targets: JoinTarget[],
    proceed: (problems: Array<string | null>) => void,
    unavailable: () => void,
  ): Promise<void> {
    const data = ws.getUserData();
    return joinProblems(this.opts.rowAuth!.catalog, identity, targets).then(
      (problems) => {
        if (!data.closed) ws.cork(() => proceed(problems));
      },
      (err: unknown) => {
        this.refusalLog.run('row-auth-join', (suppressed) =>
          this.opts.log.warn(
            { err, connId: data.id, code: 'RowAuthorizationUnavailable', suppressed },
            'could not check a join against the database',
          ),
        );
        if (!data.closed) ws.cork(unavailable);
      },
    );
  }

  /** Without `config`: the topic names what to deliver; answered `ok` once the subscription is live. */
  private joinLegacy(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    identity: Identity | null,
  ): Promise<void> | undefined {
    let filter: RowFilter;
    let target: LegacyTarget;
    try {
      target = parseLegacySubtopic(subtopic);
      filter = new RowFilter(target.kind === 'table' ? parseFilter(target.filter) : []);
    } catch (err) {
      if (err instanceof TopicError) {
        this.joinError(
          ws,
          msg,
          errorReason(subtopic === '' ? 'TopicNameRequired' : 'InvalidTopic', err.message),
        );
        return;
      }
      if (err instanceof FilterError) {
        this.joinError(ws, msg, errorReason('InvalidFilter', `${err.message}: ${err.detail}`));
        return;
      }
      throw err;
    }
    if (this.refusedForSubscriptions(ws, msg, [busKeyForLegacy(target)])) return;
    const subscribe = (): void => {
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.legacyGroup(msg.topic, target, filter, as);
      this.attach(ws, msg, rebuild(identity), false, rebuild, () => {
        this.opts.metrics.joins.inc({ result: 'ok' });
        reply(ws, msg, 'ok', {});
        this.pushSubscribed(ws, msg, subtopic);
      });
    };
    if (!identity) {
      subscribe();
      return;
    }
    const schemaTarget: JoinTarget =
      target.kind === 'table'
        ? { schema: target.schema, table: target.table, columns: filter.conditions.map((c) => c.column) }
        : { schema: target.kind === 'schema' ? target.schema : '*', table: '*', columns: [] };
    return this.checkRows(
      ws,
      identity,
      [schemaTarget],
      ([problem]) => (problem ? this.joinError(ws, msg, problem) : subscribe()),
      () =>
        this.joinError(
          ws,
          msg,
          errorReason('RowAuthorizationUnavailable', 'could not check the join against the database; retry'),
        ),
    );
  }

  /**
   * With `config`: the reply echoes `config.postgres_changes` verbatim with ids at once; a `system`
   * message follows, "Subscribed to PostgreSQL" once the subscriptions are live, or an error per
   * binding that cannot be served.
   */
  private joinModern(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    config: unknown,
    identity: Identity | null,
  ): Promise<void> | undefined {
    if (subtopic === '') {
      this.joinError(ws, msg, errorReason('TopicNameRequired', 'You must provide a topic name'));
      return;
    }
    const requested =
      isObject(config) && Array.isArray(config.postgres_changes) ? config.postgres_changes : [];
    const { limits } = this.opts;
    const refusal = checkBindings(requested, limits);
    if (refusal) {
      this.refuse(ws, msg, refusal);
      return;
    }
    const echo = requested.map((entry: unknown) => ({
      id: bindingId(entry),
      ...(isObject(entry) ? entry : {}),
    }));
    const bindings: Binding[] = [];
    const errors: string[] = [];
    for (const entry of requested) {
      const parsed = parseBinding(entry, limits.maxFilterBytes);
      if ('error' in parsed) errors.push(parsed.error);
      else bindings.push(parsed);
    }
    if (
      this.refusedForSubscriptions(
        ws,
        msg,
        bindings.map((b) => b.busKey),
      )
    )
      return;
    this.opts.metrics.joins.inc({ result: 'ok' });
    reply(ws, msg, 'ok', { postgres_changes: echo });
    const subscribe = (served: Binding[], refused: string[]): void => {
      for (const message of refused) this.pushSystemError(ws, msg, subtopic, message);
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.postgresChangesGroup(msg.topic, served, as);
      const group = served.length > 0 ? rebuild(identity) : null;
      this.attach(ws, msg, group, true, group ? rebuild : null, () => this.pushSubscribed(ws, msg, subtopic));
    };
    if (!identity || bindings.length === 0) {
      subscribe(bindings, errors);
      return;
    }
    return this.checkRows(
      ws,
      identity,
      bindings.map((b) => ({ schema: b.schema, table: b.table, columns: b.columns })),
      (problems) => {
        const served = bindings.filter((_, i) => problems[i] === null);
        subscribe(served, [...errors, ...problems.filter((p): p is string => p !== null)]);
      },
      () => {
        const reason = errorReason(
          'RowAuthorizationUnavailable',
          'could not check the join against the database; retry',
        );
        this.pushSystemError(ws, msg, subtopic, reason);
        pushLifecycle(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.error);
      },
    );
  }

  private pushSystemError(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    message: string,
  ): void {
    push(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.system, {
      channel: subtopic,
      extension: 'postgres_changes',
      message: clip(message),
      status: 'error',
    });
  }

  /**
   * Makes `ws` a member of `group` for `msg.topic` and runs `onLive` (corked) once the group's
   * subscriptions are live. If that takes longer than JOIN_TIMEOUT the channel fails: a legacy join
   * is answered with an error, a modern channel gets a `system` error and `phx_error` (the client
   * rejoins with backoff).
   */
  private attach(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    group: DeliveryGroup | null,
    modern: boolean,
    rebuild: ((identity: Identity | null) => DeliveryGroup) | null,
    onLive: () => void,
  ): void {
    const data = ws.getUserData();
    const joinRef = msg.joinRef ?? msg.ref;
    const membership: ChannelMembership = {
      topic: msg.topic,
      joinRef,
      group,
      rebuild,
      state: 'joining',
      request: { topic: msg.topic, ref: msg.ref, joinRef: msg.joinRef },
      modern,
      cancelWait: null,
      timer: null,
      token: null,
      claims: null,
      expiryTimer: null,
    };
    data.channels.set(msg.topic, membership);
    if (!group) {
      membership.state = 'joined';
      return;
    }
    group.add(ws);
    membership.timer = setTimeout(() => {
      if (data.closed || data.channels.get(msg.topic) !== membership) return;
      this.release(ws, membership);
      data.channels.delete(msg.topic);
      const reason = errorReason('BusUnavailable', 'could not subscribe to changes in time; retry');
      ws.cork(() => {
        if (!modern) {
          this.joinError(ws, msg, reason);
          return;
        }
        push(ws, msg.topic, joinRef, PhoenixEvents.system, {
          channel: subtopicOf(msg.topic),
          extension: 'postgres_changes',
          message: reason,
          status: 'error',
        });
        pushLifecycle(ws, msg.topic, joinRef, PhoenixEvents.error);
      });
    }, this.opts.joinTimeoutMs);
    membership.cancelWait = group.whenLive(() => {
      if (data.closed || data.channels.get(msg.topic) !== membership) return;
      if (membership.timer) clearTimeout(membership.timer);
      membership.timer = null;
      membership.cancelWait = null;
      membership.state = 'joined';
      ws.cork(() => {
        // The group may have changed meanwhile (an access_token with other claims).
        ws.subscribe((membership.group ?? group).uwsTopic(data.codec.vsn));
        onLive();
      });
    });
  }

  private pushSubscribed(ws: WebSocket<SocketData>, msg: PhoenixMessage, subtopic: string): void {
    push(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.system, {
      channel: subtopic,
      extension: 'postgres_changes',
      message: 'Subscribed to PostgreSQL',
      status: 'ok',
    });
  }

  private leave(ws: WebSocket<SocketData>, membership: ChannelMembership, msg: PhoenixMessage): void {
    this.end(ws, membership);
    reply(ws, msg, 'ok', {});
    pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.close);
  }

  /**
   * Ends a membership that a later frame supersedes (leave, second join). A legacy join still
   * waiting for its subscription is answered first, so every join gets its reply, in order.
   */
  private end(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    if (membership.state === 'joining' && !membership.modern) reply(ws, membership.request, 'ok', {});
    this.release(ws, membership);
    ws.getUserData().channels.delete(membership.topic);
  }

  /** Undoes a membership: pending wait, timer, uWS topic (while the socket is open), group count. */
  private release(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    const data = ws.getUserData();
    membership.cancelWait?.();
    if (membership.timer) clearTimeout(membership.timer);
    if (membership.expiryTimer) clearTimeout(membership.expiryTimer);
    membership.cancelWait = null;
    membership.timer = null;
    membership.expiryTimer = null;
    const { group } = membership;
    if (!group) return;
    if (membership.state === 'joined' && !data.closed) ws.unsubscribe(group.uwsTopic(data.codec.vsn));
    group.remove(ws);
    this.opts.registry.releaseIfEmpty(group);
  }

  /** True (and the join answered) when the group the join needs would pass MAX_BUS_SUBSCRIPTIONS. */
  private refusedForSubscriptions(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    keys: readonly BusKey[],
  ): boolean {
    const { registry, limits } = this.opts;
    const refusal = checkSubscriptions(
      registry.busSubscriptionCount,
      registry.subscriptionsNeeded(keys),
      limits,
    );
    if (refusal) this.refuse(ws, msg, refusal);
    return refusal !== null;
  }

  /** Answers a request refused for a client limit, and counts it. */
  private refuse(ws: WebSocket<SocketData>, msg: PhoenixMessage, refusal: Refusal): void {
    this.opts.metrics.limitRefusals.inc({ limit: refusal.limit });
    if (msg.event === PhoenixEvents.join) this.joinError(ws, msg, refusal.reason);
    else reply(ws, msg, 'error', { reason: refusal.reason });
  }

  private joinError(ws: WebSocket<SocketData>, msg: PhoenixMessage, reason: string): void {
    this.opts.metrics.joins.inc({ result: 'error' });
    const fields = { connId: ws.getUserData().id, channel: clip(msg.topic, 100), reason };
    this.refusalLog.info(this.opts.log, fields, 'join refused');
    reply(ws, msg, 'error', { reason });
  }

  private protocolError(ws: WebSocket<SocketData>, err: ProtocolError): void {
    this.opts.metrics.protocolErrors.inc();
    const data = ws.getUserData();
    this.opts.log.debug({ connId: data.id, err: clip(err.message) }, 'malformed frame');
    const topic = err.topic === null ? PHOENIX_TOPIC : clip(err.topic, longestTopicChars(this.opts.limits));
    reply(ws, { topic, ref: err.ref, joinRef: null }, 'error', {
      reason: errorReason('ProtocolViolation', err.message),
    });
  }

  /** A fault of ours while handling `msg`: logged (throttled) and answered, never thrown to uWS. */
  private internalError(ws: WebSocket<SocketData>, msg: PhoenixMessage, err: unknown): void {
    const data = ws.getUserData();
    this.refusalLog.run('internal', (suppressed) =>
      this.opts.log.error(
        { err, connId: data.id, event: clip(msg.event, 64), code: 'InternalError', suppressed },
        'could not handle a frame',
      ),
    );
    if (data.closed) return;
    reply(ws, { ...msg, topic: clip(msg.topic, longestTopicChars(this.opts.limits)) }, 'error', {
      reason: errorReason('InternalError', 'the server could not handle this message'),
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
