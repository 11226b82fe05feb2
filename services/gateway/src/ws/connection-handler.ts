/**
 * The Phoenix channel protocol for one socket, as a frame router: decodes each frame, answers
 * heartbeats, sends joins to the JoinHandler, leaves and token pushes to their channel, and the
 * answer to anything malformed. One instance serves every socket of the gateway.
 *
 * Invariants:
 * - A client fault (malformed frame, bad topic, bad filter) is answered to that client only, as
 *   an error reply `"<Code>: <message>"`; the socket stays open and nothing else is affected.
 * - With SECURE_CHANNELS, a join and an `access_token` push wait for their token check (and, with
 *   row authorization, a join for its database check); frames that arrive meanwhile are queued on
 *   the socket (at most MAX_QUEUED_FRAMES) and handled afterwards, in order. The token rules
 *   themselves (verification, refresh, expiry) live in ChannelAuth.
 * - Every request is held to the client limits (client-limits.ts) before work proportional to it is
 *   done; replies and logs repeat at most a short prefix of what the client sent. An exception while
 *   handling a frame is answered to that socket with InternalError and never escapes to uWS.
 */
import {
  FrameTooDeepError,
  decodeUserBroadcastPush,
  PHOENIX_TOPIC,
  PhoenixEvents,
  ProtocolError,
  clip,
  type PhoenixMessage,
} from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import type { TokenVerifier } from '../auth/token-verifier';
import type { BroadcastRegistry } from '../channels/broadcast-registry';
import type { DeliveryGroup } from '../channels/delivery-group';
import type { ChannelRegistry } from '../channels/channel-registry';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { ChannelAuthorizer } from '../rls/channel-authorizer';
import type { MessageReplay } from '../rls/message-replay';
import type { TableAccessCatalog } from '../rls/table-access';
import type { WebSocket } from '../uws';
import { BroadcastPushes, binaryBroadcastMessage } from './broadcast-push';
import { PresencePushes } from './presence-push';
import type { PresenceStore } from '../presence/presence-store';
import type { PresenceLimits } from '../config';
import { ChannelAuth } from './channel-auth';
import { ClientReplies } from './client-replies';
import { checkTopic, longestTopicChars } from './client-limits';
import { reply } from './frames';
import { JoinHandler } from './join-handler';
import { Memberships } from './memberships';
import { ChannelResume } from './channel-resume';
import { PrivateChannels } from './private-channels';
import type { SocketData } from './socket-data';

export interface ConnectionHandlerOptions {
  registry: ChannelRegistry;
  broadcasts: BroadcastRegistry;
  /**
   * Private channels' permissions (policies on realtime.messages); null when they cannot be
   * checked here (private joins are then refused).
   */
  privateChannels: { authorizer: ChannelAuthorizer; replay: MessageReplay } | null;
  presence: PresenceStore;
  presenceLimits: PresenceLimits;
  /** PRIVATE_ONLY: public joins are refused. */
  privateOnly: boolean;
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
  private readonly replies: ClientReplies;
  private readonly memberships: Memberships;
  private readonly joins: JoinHandler;
  private readonly broadcastPushes: BroadcastPushes;
  private readonly presencePushes: PresencePushes;

  constructor(private readonly opts: ConnectionHandlerOptions) {
    this.replies = new ClientReplies(opts);
    const privateChannels = opts.privateChannels
      ? new PrivateChannels({ ...opts.privateChannels, replies: this.replies, log: opts.log })
      : null;
    this.memberships = new Memberships({
      registry: opts.registry,
      broadcasts: opts.broadcasts,
      joinTimeoutMs: opts.joinTimeoutMs,
      replies: this.replies,
      rowAuth: opts.rowAuth !== null,
      untrack: (topic, entry) =>
        void opts.presence
          .untrack(topic, entry)
          .catch((err: unknown) =>
            this.replies.logThrottled('presence-untrack', (suppressed) =>
              opts.log.warn(
                { err, code: 'BusUnavailable', suppressed },
                'could not remove a presence from Redis',
              ),
            ),
          ),
      resume: new ChannelResume({
        registry: opts.registry,
        history: opts.registry.history,
        fanout: opts.registry.fanout,
        metrics: opts.metrics,
      }),
    });
    this.auth = opts.verifier
      ? new ChannelAuth({
          verifier: opts.verifier,
          metrics: opts.metrics,
          log: opts.log,
          endChannel: (ws, membership) => {
            this.memberships.release(ws, membership);
            ws.getUserData().channels.delete(membership.topic);
          },
          claimsChanged: (ws, membership) => {
            this.memberships.regroup(ws, membership);
            privateChannels?.claimsChanged(ws, membership, this.memberships);
          },
        })
      : null;
    this.joins = new JoinHandler({
      ...opts,
      privateChannels,
      auth: this.auth,
      replies: this.replies,
      memberships: this.memberships,
    });
    this.broadcastPushes = new BroadcastPushes({
      ...opts,
      replies: this.replies,
      memberships: this.memberships,
      canWrite: privateChannels ? (ws, m) => privateChannels.canWrite(ws, m) : null,
    });
    this.presencePushes = new PresencePushes({
      store: opts.presence,
      memberships: this.memberships,
      replies: this.replies,
      limits: opts.presenceLimits,
      metrics: opts.metrics,
      log: opts.log,
      canTrack: privateChannels ? (m) => privateChannels.canTrack(m) : null,
    });
  }

  onMessage(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    // A socket the gateway is closing (join rate) may still have frames in the same read: skip them.
    if (data.closed) return;
    data.lastInboundAt = Date.now();
    if (isBinary && data.codec.vsn !== '2.0.0') {
      this.replies.protocolError(
        ws,
        new ProtocolError(`binary frames are not accepted on vsn=${data.codec.vsn}`),
      );
      return;
    }
    let msg: PhoenixMessage;
    try {
      msg = isBinary
        ? binaryBroadcastMessage(decodeUserBroadcastPush(new Uint8Array(message).slice())) // a copy: uWS frees `message`
        : data.codec.decode(Buffer.from(message).toString('utf8'), this.opts.limits.maxFrameDepth);
    } catch (err) {
      if (err instanceof FrameTooDeepError) this.opts.metrics.limitRefusals.inc({ limit: 'frame_depth' });
      this.replies.protocolError(ws, err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return;
    }
    try {
      this.dispatch(ws, msg);
    } catch (err) {
      this.replies.internalError(ws, msg, err);
    }
  }

  /** Routes `msg`, or queues it behind a pending token check. */
  private dispatch(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
    const data = ws.getUserData();
    // Joins count against the join rate as they arrive, so a flood of them behind a pending check
    // closes the socket instead of filling its inbox.
    if (msg.event === PhoenixEvents.join && !this.joins.withinJoinRate(ws, msg)) return;
    if (data.inbox) {
      if (data.inbox.length < MAX_QUEUED_FRAMES) data.inbox.push(msg);
      else {
        const why = `more than ${MAX_QUEUED_FRAMES} frames sent while a token check is pending`;
        this.replies.protocolError(ws, new ProtocolError(why, msg.ref, msg.topic));
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
              this.replies.internalError(ws, msg, err);
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
   * Ends every joined channel of `groups` with `phx_error` (changes may have been missed); returns
   * how many were ended.
   */
  failChannels(groups: readonly DeliveryGroup[]): number {
    return this.memberships.failChannels(groups);
  }

  onClose(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.closed = true;
    for (const membership of data.channels.values()) this.memberships.release(ws, membership);
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
      this.replies.refuse(
        ws,
        { ...msg, topic: clip(msg.topic, 64) },
        checkTopic(msg.topic, true, this.opts.limits)!,
      );
      return;
    }
    if (msg.event === PhoenixEvents.join) return this.joins.join(ws, msg);
    const membership = data.channels.get(msg.topic);
    if (msg.event === PhoenixEvents.leave) {
      if (membership) this.memberships.leave(ws, membership, msg);
      else reply(ws, msg, 'ok', {});
      return;
    }
    if (!membership) {
      // Phoenix answers any other message on a topic that is not joined this way.
      reply(ws, msg, 'error', { reason: 'unmatched topic' });
      return;
    }
    if (msg.event === PhoenixEvents.accessToken) return this.auth?.refresh(ws, membership, msg.payload);
    if (msg.event === PhoenixEvents.broadcast) return this.broadcastPushes.handle(ws, membership, msg);
    if (msg.event === PhoenixEvents.presence) return this.presencePushes.handle(ws, membership, msg);
    // Every other event on a joined channel is ignored (legacy servers crashed the channel here,
    // which made clients rejoin in a loop).
    return;
  }
}
