/**
 * The Phoenix channel protocol for one socket: heartbeats, joins, leaves, token pushes, and the
 * answer to anything malformed. One instance serves every socket of the gateway.
 *
 * Invariants:
 * - A client fault (malformed frame, bad topic, bad filter) is answered to that client only, as
 *   an error reply `"<Code>: <message>"`; the socket stays open and nothing else is affected.
 * - A legacy join is answered `ok` only once the channel's bus subscription is live, so a row
 *   committed after the reply is delivered (protocol decision 7).
 * - Every membership a socket holds is released when it leaves, rejoins or closes.
 */
import {
  PHOENIX_TOPIC,
  PhoenixEvents,
  ProtocolError,
  TopicError,
  errorReason,
  parseLegacySubtopic,
  subtopicOf,
  type PhoenixMessage,
} from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { RowFilter } from '../filters/row-filter';
import type { ChannelMembership, ChannelRegistry } from '../channels/channel-registry';
import type { WebSocket } from '../uws';
import { pushLifecycle, push, reply } from './frames';
import type { SocketData } from './socket-data';

export interface ConnectionHandlerOptions {
  registry: ChannelRegistry;
  joinTimeoutMs: number;
  log: Logger;
}

export class ConnectionHandler {
  readonly stats = { protocolErrors: 0, joins: 0, joinErrors: 0 };

  constructor(private readonly opts: ConnectionHandlerOptions) {}

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
    this.route(ws, msg);
  }

  onClose(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.closed = true;
    for (const membership of data.channels.values()) this.release(ws, membership);
    data.channels.clear();
  }

  private route(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
    const data = ws.getUserData();
    if (msg.topic === PHOENIX_TOPIC && msg.event === PhoenixEvents.heartbeat) {
      reply(ws, msg, 'ok', {});
      return;
    }
    if (msg.event === PhoenixEvents.join) {
      this.join(ws, msg);
      return;
    }
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
    // access_token is accepted without a reply; every other event on a joined channel is ignored
    // (legacy servers crashed the channel here, which made clients rejoin in a loop).
  }

  private join(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
    const data = ws.getUserData();
    this.stats.joins++;
    const subtopic = subtopicOf(msg.topic);
    if (subtopic === null) {
      this.joinError(ws, msg, 'unmatched topic');
      return;
    }
    const previous = data.channels.get(msg.topic);
    if (previous) {
      // A second join of a joined topic replaces the first (Phoenix shuts the old channel down).
      this.release(ws, previous);
      data.channels.delete(msg.topic);
      pushLifecycle(ws, msg.topic, previous.joinRef, PhoenixEvents.close);
    }
    let filter: RowFilter;
    let target;
    try {
      target = parseLegacySubtopic(subtopic);
      filter = new RowFilter(target.kind === 'table' ? parseFilter(target.filter) : []);
    } catch (err) {
      if (err instanceof TopicError) {
        const code = subtopic === '' ? 'TopicNameRequired' : 'InvalidTopic';
        this.joinError(ws, msg, errorReason(code, err.message));
        return;
      }
      if (err instanceof FilterError) {
        this.joinError(ws, msg, errorReason('InvalidFilter', `${err.message}: ${err.detail}`));
        return;
      }
      throw err;
    }
    const group = this.opts.registry.legacyGroup(msg.topic, target, filter);
    group.add(ws);
    const joinRef = msg.joinRef ?? msg.ref;
    const membership: ChannelMembership = {
      topic: msg.topic,
      joinRef,
      group,
      state: 'joining',
      cancelWait: null,
      timer: null,
    };
    data.channels.set(msg.topic, membership);
    membership.timer = setTimeout(() => {
      if (data.closed || data.channels.get(msg.topic) !== membership) return;
      this.release(ws, membership);
      data.channels.delete(msg.topic);
      ws.cork(() =>
        this.joinError(
          ws,
          msg,
          errorReason('BusUnavailable', 'could not subscribe to changes in time; retry'),
        ),
      );
    }, this.opts.joinTimeoutMs);
    membership.cancelWait = group.busEntry.whenLive(() => {
      if (data.closed || data.channels.get(msg.topic) !== membership) return;
      if (membership.timer) clearTimeout(membership.timer);
      membership.timer = null;
      membership.cancelWait = null;
      membership.state = 'joined';
      ws.cork(() => {
        ws.subscribe(group.uwsTopic(data.codec.vsn));
        reply(ws, msg, 'ok', {});
        push(ws, msg.topic, joinRef, PhoenixEvents.system, {
          channel: subtopic,
          extension: 'postgres_changes',
          message: 'Subscribed to PostgreSQL',
          status: 'ok',
        });
      });
    });
  }

  private leave(ws: WebSocket<SocketData>, membership: ChannelMembership, msg: PhoenixMessage): void {
    this.release(ws, membership);
    ws.getUserData().channels.delete(membership.topic);
    reply(ws, msg, 'ok', {});
    pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.close);
  }

  /** Undoes a membership: pending wait, timer, uWS topic (while the socket is open), group count. */
  private release(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    const data = ws.getUserData();
    if (membership.state === 'joined' && !data.closed)
      ws.unsubscribe(membership.group.uwsTopic(data.codec.vsn));
    membership.cancelWait?.();
    if (membership.timer) clearTimeout(membership.timer);
    membership.cancelWait = null;
    membership.timer = null;
    membership.group.remove(ws);
    this.opts.registry.releaseIfEmpty(membership.group);
  }

  private joinError(ws: WebSocket<SocketData>, msg: PhoenixMessage, reason: string): void {
    this.stats.joinErrors++;
    this.opts.log.info({ connId: ws.getUserData().id, channel: msg.topic, reason }, 'join refused');
    reply(ws, msg, 'error', { reason });
  }

  private protocolError(ws: WebSocket<SocketData>, err: ProtocolError): void {
    this.stats.protocolErrors++;
    const data = ws.getUserData();
    this.opts.log.debug({ connId: data.id, err: err.message }, 'malformed frame');
    reply(ws, { topic: err.topic ?? PHOENIX_TOPIC, ref: err.ref, joinRef: null }, 'error', {
      reason: errorReason('ProtocolViolation', err.message),
    });
  }
}
