/**
 * A `broadcast` push on a joined modern channel: a JSON push (vsn 1.0.0 object or vsn 2.0.0 text
 * array, whose payload map is passed through unchanged) or a vsn 2.0.0 binary kind-3 frame (a user
 * event with a JSON or binary payload). In order:
 *
 * 1. The rates: MAX_CHANNEL_BROADCASTS_PER_SECOND closes the channel, MAX_SOCKET_BROADCASTS_PER_SECOND
 *    the socket, each after the original server's `system` error "Too many messages per second".
 * 2. The size: over MAX_BROADCAST_BYTES, a push that wants an ack is answered `payload_size_exceeded`;
 *    one that does not is dropped (counted).
 * 3. Private channels: the write permission, checked on the first broadcast and kept until the token
 *    changes; without it the message is dropped unanswered, as the original server does.
 * 4. Delivery (BroadcastRegistry.send): to this gateway's subscribers at once, to the others through
 *    Redis; with `ack`, the reply `ok` once Redis accepted it.
 */
import {
  ErrorCodes,
  FrameTooDeepError,
  PhoenixEvents,
  ProtocolError,
  nestsDeeperThan,
  subtopicOf,
  type PhoenixMessage,
  type UserBroadcastPush,
} from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import type { BroadcastBinding } from '../channels/broadcast-config';
import type { BroadcastRegistry, OutgoingBroadcast } from '../channels/broadcast-registry';
import type { ChannelMembership } from '../channels/channel-membership';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import type { ClientReplies } from './client-replies';
import { push, reply } from './frames';
import type { Memberships } from './memberships';
import type { SocketData } from './socket-data';
import { TokenBucket } from '../channels/token-bucket';

/** The payload of a PhoenixMessage made from a binary kind-3 frame (so it can wait in the inbox). */
export class BinaryBroadcast {
  constructor(readonly push: UserBroadcastPush) {}
}

/** The PhoenixMessage a kind-3 frame stands for: event `broadcast` on its topic, with its refs. */
export function binaryBroadcastMessage(push: UserBroadcastPush): PhoenixMessage<BinaryBroadcast> {
  return {
    joinRef: push.joinRef,
    ref: push.ref,
    topic: push.topic,
    event: PhoenixEvents.broadcast,
    payload: new BinaryBroadcast(push),
  };
}

export const TOO_MANY_MESSAGES = 'Too many messages per second';

export interface BroadcastPushesOptions {
  broadcasts: BroadcastRegistry;
  memberships: Memberships;
  replies: ClientReplies;
  limits: ClientLimits;
  metrics: GatewayMetrics;
  log: Logger;
  /**
   * Whether the channel's token may write to its private topic (policies on realtime.messages);
   * null when private channels are not served (they are refused at join then).
   */
  canWrite: ((ws: WebSocket<SocketData>, membership: ChannelMembership) => Promise<boolean>) | null;
}

export class BroadcastPushes {
  constructor(private readonly opts: BroadcastPushesOptions) {}

  /** Handles a broadcast push; a promise while it waits for a private channel's write check. */
  handle(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    msg: PhoenixMessage,
  ): Promise<void> | undefined {
    const binding = membership.broadcast;
    // Legacy channels have no broadcast: the push is ignored, like any unknown event.
    if (!binding || membership.state === 'ended') return;
    if (!this.withinRates(ws, membership, binding)) return;
    const out = this.outgoing(ws, binding, msg);
    if (!out) return;
    if (binding.canWrite === true) {
      this.send(ws, binding, msg, out);
      return;
    }
    if (binding.canWrite === false || !this.opts.canWrite) {
      this.opts.metrics.broadcastsDropped.inc({ reason: 'unauthorized' });
      return;
    }
    const data = ws.getUserData();
    return this.opts.canWrite(ws, membership).then(
      (allowed) => {
        if (membership.broadcast !== binding) return; // left, or the token changed, meanwhile
        binding.canWrite = allowed;
        if (data.closed || !allowed) {
          if (!allowed) this.opts.metrics.broadcastsDropped.inc({ reason: 'unauthorized' });
          return;
        }
        ws.cork(() => this.send(ws, binding, msg, out));
      },
      (err: unknown) => {
        // Not cached: the next broadcast asks again.
        this.opts.metrics.broadcastsDropped.inc({ reason: 'unauthorized' });
        this.opts.replies.logThrottled('broadcast-write', (suppressed) =>
          this.opts.log.warn(
            { err, connId: data.id, code: 'RowAuthorizationUnavailable', suppressed },
            'could not check a private channel’s write permission; the broadcast was dropped',
          ),
        );
      },
    );
  }

  /** Takes the channel's and the socket's tokens; past either rate, ends the channel (or socket). */
  private withinRates(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    binding: BroadcastBinding,
  ): boolean {
    const data = ws.getUserData();
    const now = Date.now();
    const { limits, metrics } = this.opts;
    data.broadcastRate ??= new TokenBucket(limits.maxSocketBroadcastsPerSecond, now);
    const socketOk = data.broadcastRate.take(now);
    if (socketOk && binding.rate.take(now)) return true;
    metrics.limitRefusals.inc({ limit: 'broadcast_rate' });
    metrics.broadcastsDropped.inc({ reason: 'rate' });
    if (socketOk) {
      this.opts.memberships.closeWithError(ws, membership, 'broadcast', TOO_MANY_MESSAGES);
      return false;
    }
    push(ws, membership.topic, membership.joinRef, PhoenixEvents.system, {
      channel: subtopicOf(membership.topic),
      extension: 'broadcast',
      message: TOO_MANY_MESSAGES,
      status: 'error',
    });
    data.closeReason = 'broadcast_rate';
    ws.end(ErrorCodes.ClientBroadcastRateLimitReached.close, TOO_MANY_MESSAGES);
    data.closed = true; // nothing more is read from or sent to it
    return false;
  }

  /** The message to send, or null when it is refused (too large, or a bad binary payload). */
  private outgoing(
    ws: WebSocket<SocketData>,
    binding: BroadcastBinding,
    msg: PhoenixMessage,
  ): OutgoingBroadcast | null {
    const { limits, metrics } = this.opts;
    const { group, config } = binding;
    const { subtopic } = group;
    let out: OutgoingBroadcast;
    let size: number;
    if (msg.payload instanceof BinaryBroadcast) {
      const { push: frame } = msg.payload;
      size = frame.payload.length;
      if (size <= limits.maxBroadcastBytes && frame.json) {
        const text = Buffer.from(frame.payload).toString('utf8');
        const problem = jsonProblem(text, limits.maxFrameDepth);
        if (problem) {
          this.opts.replies.protocolError(ws, new ProtocolError(problem, msg.ref, msg.topic));
          return null;
        }
        out = {
          subtopic,
          isPrivate: group.isPrivate,
          header: { shape: 'user', event: frame.event, enc: 'json' },
          payloadText: text,
        };
      } else {
        out = {
          subtopic,
          isPrivate: group.isPrivate,
          header: { shape: 'user', event: frame.event, enc: 'binary' },
          payloadText: size <= limits.maxBroadcastBytes ? Buffer.from(frame.payload).toString('base64') : '',
        };
      }
    } else {
      const text = JSON.stringify(msg.payload);
      size = Buffer.byteLength(text);
      const p = msg.payload as { event?: unknown };
      const event = typeof p === 'object' && p !== null && typeof p.event === 'string' ? p.event : '';
      out = {
        subtopic,
        isPrivate: group.isPrivate,
        header: { shape: 'map', event, enc: 'json' },
        payloadText: text,
      };
    }
    if (size <= limits.maxBroadcastBytes) return out;
    metrics.limitRefusals.inc({ limit: 'broadcast_bytes' });
    metrics.broadcastsDropped.inc({ reason: 'too_large' });
    if (config.ack) reply(ws, msg, 'error', 'payload_size_exceeded');
    return null;
  }

  private send(
    ws: WebSocket<SocketData>,
    binding: BroadcastBinding,
    msg: PhoenixMessage,
    out: OutgoingBroadcast,
  ): void {
    const { self, ack } = binding.config;
    const sent = this.opts.broadcasts.send(out, self ? null : ws, 'websocket');
    if (!ack) {
      sent.catch(() => undefined); // the bus is closing: nothing to tell
      return;
    }
    const data = ws.getUserData();
    sent.then(
      () => {
        if (!data.closed) ws.cork(() => reply(ws, msg, 'ok', {}));
      },
      () => undefined,
    );
  }
}

/** Why a kind-3 JSON payload is not JSON a text frame can carry, or null when it is fine. */
function jsonProblem(text: string, maxDepth: number): string | null {
  if (nestsDeeperThan(text, maxDepth)) return new FrameTooDeepError(maxDepth).message;
  try {
    JSON.parse(text);
    return null;
  } catch {
    return 'the JSON payload of a binary broadcast is not valid JSON';
  }
}
