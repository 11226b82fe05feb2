/**
 * What a socket is told when its request cannot be served: limit refusals, join errors, protocol
 * violations, our own faults, and the `system` messages of postgres_changes bindings. Replies
 * repeat at most a short prefix of what the client sent, and the log lines of refusals a client can
 * repeat at will are throttled.
 */
import {
  PHOENIX_TOPIC,
  PhoenixEvents,
  clip,
  errorReason,
  type PhoenixMessage,
  type ProtocolError,
} from '@walcast/protocol';
import { LogThrottle, type Logger } from '@walcast/logger';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { longestTopicChars, type Refusal } from './client-limits';
import { push, reply } from './frames';
import type { SocketData } from './socket-data';

export interface ClientRepliesOptions {
  limits: ClientLimits;
  metrics: GatewayMetrics;
  log: Logger;
}

export class ClientReplies {
  /** Refused joins and malformed frames are logged, but a client cannot flood the log with them. */
  private readonly throttle = new LogThrottle({ max: 20, windowMs: 10_000 });

  constructor(private readonly opts: ClientRepliesOptions) {}

  /** Runs `emit` (a log call) unless lines of `kind` are over their rate; `suppressed` counts those skipped. */
  logThrottled(kind: string, emit: (suppressed: number) => void): void {
    this.throttle.run(kind, emit);
  }

  /** Answers a request refused for a client limit, and counts it. */
  refuse(ws: WebSocket<SocketData>, msg: PhoenixMessage, refusal: Refusal): void {
    this.opts.metrics.limitRefusals.inc({ limit: refusal.limit });
    if (msg.event === PhoenixEvents.join) this.joinError(ws, msg, refusal.reason);
    else reply(ws, msg, 'error', { reason: refusal.reason });
  }

  joinError(ws: WebSocket<SocketData>, msg: PhoenixMessage, reason: string): void {
    this.opts.metrics.joins.inc({ result: 'error' });
    const fields = { connId: ws.getUserData().id, channel: clip(msg.topic, 100), reason };
    this.throttle.info(this.opts.log, fields, 'join refused');
    reply(ws, msg, 'error', { reason });
  }

  protocolError(ws: WebSocket<SocketData>, err: ProtocolError): void {
    this.opts.metrics.protocolErrors.inc();
    const data = ws.getUserData();
    this.opts.log.debug({ connId: data.id, err: clip(err.message) }, 'malformed frame');
    const topic = err.topic === null ? PHOENIX_TOPIC : clip(err.topic, longestTopicChars(this.opts.limits));
    reply(ws, { topic, ref: err.ref, joinRef: null }, 'error', {
      reason: errorReason('ProtocolViolation', err.message),
    });
  }

  /** A fault of ours while handling `msg`: logged (throttled) and answered, never thrown to uWS. */
  internalError(ws: WebSocket<SocketData>, msg: PhoenixMessage, err: unknown): void {
    const data = ws.getUserData();
    this.throttle.run('internal', (suppressed) =>
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
  pushSystemError(ws: WebSocket<SocketData>, msg: PhoenixMessage, subtopic: string, message: string): void {
    push(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.system, {
      channel: subtopic,
      extension: 'postgres_changes',
      message: clip(message),
      status: 'error',
    });
  }

  /**
   * "Subscribed to PostgreSQL"; with `position`, the last position this gateway had heard when the
   * channel went live: a client that has received no change yet resumes from it (`since`).
   */
  pushSubscribed(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    position: string | null = null,
  ): void {
    push(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.system, {
      channel: subtopic,
      extension: 'postgres_changes',
      message: 'Subscribed to PostgreSQL',
      status: 'ok',
      ...(position !== null ? { position } : {}),
    });
  }
}
