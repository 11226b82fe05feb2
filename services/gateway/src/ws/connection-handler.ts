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
 */
import {
  PHOENIX_TOPIC,
  PhoenixEvents,
  ProtocolError,
  TopicError,
  errorReason,
  parseLegacySubtopic,
  subtopicOf,
  type LegacyTarget,
  type PhoenixMessage,
} from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import { AuthError } from '../auth/auth-error';
import { channelToken, type TokenVerifier, type VerifiedToken } from '../auth/token-verifier';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { bindingId, parseBinding, type Binding } from '../channels/postgres-changes-binding';
import type { DeliveryGroup } from '../channels/delivery-group';
import { RowFilter } from '../filters/row-filter';
import type { ChannelMembership, ChannelRegistry } from '../channels/channel-registry';
import type { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { ChannelAuth } from './channel-auth';
import { pushLifecycle, push, reply } from './frames';
import { gatewaySocket, type SocketData } from './socket-data';

export interface ConnectionHandlerOptions {
  registry: ChannelRegistry;
  joinTimeoutMs: number;
  /** Null when SECURE_CHANNELS is off: joins need no token. */
  verifier: TokenVerifier | null;
  metrics: GatewayMetrics;
  log: Logger;
}

export class ConnectionHandler {
  /** Token checks of joins and channels; null when SECURE_CHANNELS is off. */
  private readonly auth: ChannelAuth | null;

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
      msg = data.codec.decode(Buffer.from(message).toString('utf8'));
    } catch (err) {
      this.protocolError(ws, err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    this.dispatch(ws, msg);
  }

  /** Routes `msg`, or queues it behind a pending token check. */
  private dispatch(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
    const data = ws.getUserData();
    if (data.inbox) {
      data.inbox.push(msg);
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
            const next = this.route(ws, queued.shift()!);
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
    const subtopic = subtopicOf(msg.topic);
    if (subtopic === null) {
      this.joinError(ws, msg, 'unmatched topic');
      return;
    }
    const payload = isObject(msg.payload) ? msg.payload : {};
    const { auth } = this;
    if (!auth) {
      this.joinVerified(ws, msg, subtopic, payload, null);
      return;
    }
    const token = channelToken(payload, data.connectToken);
    return auth.check(token).then((result) => {
      if (data.closed) return;
      ws.cork(() => {
        if (result instanceof AuthError) {
          auth.refuseJoin(ws, msg, 'config' in payload, result);
          return;
        }
        this.joinVerified(ws, msg, subtopic, payload, { token: token!, verified: result });
      });
    });
  }

  private joinVerified(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    payload: Record<string, unknown>,
    auth: { token: string; verified: VerifiedToken } | null,
  ): void {
    const data = ws.getUserData();
    const previous = data.channels.get(msg.topic);
    if (previous) {
      // A second join of a joined topic replaces the first (Phoenix shuts the old channel down).
      this.end(ws, previous);
      pushLifecycle(ws, msg.topic, previous.joinRef, PhoenixEvents.close);
    }
    if ('config' in payload) this.joinModern(ws, msg, subtopic, payload.config);
    else this.joinLegacy(ws, msg, subtopic);
    const membership = data.channels.get(msg.topic);
    if (auth && membership) this.auth?.authorize(ws, membership, auth.token, auth.verified);
  }

  /** Without `config`: the topic names what to deliver; answered `ok` once the subscription is live. */
  private joinLegacy(ws: WebSocket<SocketData>, msg: PhoenixMessage, subtopic: string): void {
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
    const group = this.opts.registry.legacyGroup(msg.topic, target, filter);
    this.attach(ws, msg, group, false, () => {
      this.opts.metrics.joins.inc({ result: 'ok' });
      reply(ws, msg, 'ok', {});
      this.pushSubscribed(ws, msg, subtopic);
    });
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
  ): void {
    if (subtopic === '') {
      this.joinError(ws, msg, errorReason('TopicNameRequired', 'You must provide a topic name'));
      return;
    }
    const requested =
      isObject(config) && Array.isArray(config.postgres_changes) ? config.postgres_changes : [];
    const echo = requested.map((entry: unknown) => ({
      id: bindingId(entry),
      ...(isObject(entry) ? entry : {}),
    }));
    const bindings: Binding[] = [];
    const errors: string[] = [];
    for (const entry of requested) {
      const parsed = parseBinding(entry);
      if ('error' in parsed) errors.push(parsed.error);
      else bindings.push(parsed);
    }
    const group = bindings.length > 0 ? this.opts.registry.postgresChangesGroup(msg.topic, bindings) : null;
    this.opts.metrics.joins.inc({ result: 'ok' });
    reply(ws, msg, 'ok', { postgres_changes: echo });
    const joinRef = msg.joinRef ?? msg.ref;
    for (const message of errors) {
      push(ws, msg.topic, joinRef, PhoenixEvents.system, {
        channel: subtopic,
        extension: 'postgres_changes',
        message,
        status: 'error',
      });
    }
    this.attach(ws, msg, group, true, () => this.pushSubscribed(ws, msg, subtopic));
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
    onLive: () => void,
  ): void {
    const data = ws.getUserData();
    const joinRef = msg.joinRef ?? msg.ref;
    const membership: ChannelMembership = {
      topic: msg.topic,
      joinRef,
      group,
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
        ws.subscribe(group.uwsTopic(data.codec.vsn));
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

  private joinError(ws: WebSocket<SocketData>, msg: PhoenixMessage, reason: string): void {
    this.opts.metrics.joins.inc({ result: 'error' });
    this.opts.log.info({ connId: ws.getUserData().id, channel: msg.topic, reason }, 'join refused');
    reply(ws, msg, 'error', { reason });
  }

  private protocolError(ws: WebSocket<SocketData>, err: ProtocolError): void {
    this.opts.metrics.protocolErrors.inc();
    const data = ws.getUserData();
    this.opts.log.debug({ connId: data.id, err: err.message }, 'malformed frame');
    reply(ws, { topic: err.topic ?? PHOENIX_TOPIC, ref: err.ref, joinRef: null }, 'error', {
      reason: errorReason('ProtocolViolation', err.message),
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
