/**
 * A `presence` push on a joined modern channel: `{"type":"presence","event":"track","payload":{…}}`
 * or `{"event":"untrack"}` (the event is read case-insensitively), answered as the reference does:
 * `ok {}`; `error {"reason":"Presence track payload must be a map"}` for a payload that is not an
 * object; `error {}` for anything else that fails (no write permission on a private channel, Redis
 * unavailable). A track identical to the channel's last one changes nothing; a changed one is an
 * update (one diff: the old meta leaves, the new one joins with `phx_ref_prev`).
 *
 * Limits, each answered with the reference's `system` error and the channel closed: more than
 * CLIENT_PRESENCE_MAX_CALLS calls per CLIENT_PRESENCE_WINDOW_MS on the channel ("Client presence
 * rate limit exceeded"), more than MAX_PRESENCE_EVENTS_PER_SECOND on the gateway ("Too many presence
 * messages per second"), a payload over MAX_PRESENCE_BYTES ("Track message size exceeded").
 */
import { subtopicOf, type PhoenixMessage, isJsonObject } from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import type { ChannelMembership } from '../channels/channel-membership';
import { newPhxRef } from '../channels/presence-binding';
import { TokenBucket } from '../channels/token-bucket';
import type { PresenceLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import type { PresenceEntry, PresenceStore } from '../presence/presence-store';
import type { WebSocket } from '../uws';
import type { ClientReplies } from './client-replies';
import { reply } from './frames';
import type { Memberships } from './memberships';
import type { SocketData } from './socket-data';

export interface PresencePushesOptions {
  store: PresenceStore;
  memberships: Memberships;
  replies: ClientReplies;
  limits: PresenceLimits;
  metrics: GatewayMetrics;
  log: Logger;
  /** Whether the channel's claims may track on its private topic; null: private channels not served. */
  canTrack: ((membership: ChannelMembership) => Promise<boolean>) | null;
}

export class PresencePushes {
  private readonly gatewayRate: TokenBucket;

  constructor(private readonly opts: PresencePushesOptions) {
    this.gatewayRate = new TokenBucket(opts.limits.maxEventsPerSecond, Date.now());
  }

  handle(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    msg: PhoenixMessage,
  ): Promise<void> | undefined {
    const binding = membership.broadcast;
    if (!binding || membership.state === 'ended') return; // legacy channels: ignored
    const p = isJsonObject(msg.payload) ? msg.payload : {};
    const event = typeof p.event === 'string' ? p.event.toLowerCase() : '';
    if (event !== 'track' && event !== 'untrack') {
      reply(ws, msg, 'error', {});
      return;
    }
    const { limits } = this.opts;
    const now = Date.now();
    if (!binding.presence.takeCall(now, limits.maxCalls, limits.windowMs))
      return this.closeChannel(ws, membership, 'Client presence rate limit exceeded');
    if (!this.gatewayRate.take(now))
      return this.closeChannel(ws, membership, 'Too many presence messages per second');
    if (event === 'untrack') return this.untrack(ws, membership, msg);
    const payload = p.payload ?? {};
    if (!isJsonObject(payload)) {
      reply(ws, msg, 'error', { reason: 'Presence track payload must be a map' });
      return;
    }
    const json = JSON.stringify(payload);
    if (Buffer.byteLength(json) > limits.maxBytes)
      return this.closeChannel(ws, membership, 'Track message size exceeded');
    const { presence } = binding;
    if (presence.canWrite === true) return this.track(ws, membership, msg, payload, json);
    if (presence.canWrite === false || !this.opts.canTrack) {
      reply(ws, msg, 'error', {});
      return;
    }
    const data = ws.getUserData();
    return this.opts.canTrack(membership).then(
      (allowed) => {
        if (membership.broadcast !== binding || data.closed) return;
        presence.canWrite = allowed;
        if (!allowed) {
          ws.cork(() => reply(ws, msg, 'error', {}));
          return;
        }
        let pending: Promise<void> | undefined;
        ws.cork(() => {
          pending = this.track(ws, membership, msg, payload, json);
        });
        return pending;
      },
      (err: unknown) => {
        this.logFailure(data.id, err, 'could not check a private channel’s presence write permission');
        if (!data.closed) ws.cork(() => reply(ws, msg, 'error', {}));
      },
    );
  }

  private track(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    msg: PhoenixMessage,
    payload: Record<string, unknown>,
    json: string,
  ): Promise<void> | undefined {
    const binding = membership.broadcast!;
    const { presence, group } = binding;
    if (json === presence.lastPayloadJson) {
      reply(ws, msg, 'ok', {});
      return;
    }
    // A first track enables presence on a public channel that did not ask for it at join.
    if (!presence.enabled && !group.isPrivate) {
      presence.enabled = true;
      this.opts.memberships.readPresence(ws, binding);
    }
    const previous = presence.entry;
    const meta: PresenceEntry['meta'] = { ...payload, phx_ref: newPhxRef() };
    if (previous) meta.phx_ref_prev = previous.meta.phx_ref;
    const entry: PresenceEntry = { key: presence.key, meta };
    const data = ws.getUserData();
    // Recorded before Redis answers, so that a channel ending meanwhile removes it.
    presence.entry = entry;
    presence.lastPayloadJson = json;
    return this.opts.store.track(this.topicOf(membership), entry, previous).then(
      () => {
        this.opts.metrics.presenceTracks.inc({ result: 'ok' });
        if (!data.closed) ws.cork(() => reply(ws, msg, 'ok', {}));
      },
      (err: unknown) => {
        this.opts.metrics.presenceTracks.inc({ result: 'error' });
        if (presence.entry === entry) {
          presence.entry = previous;
          presence.lastPayloadJson = null;
        }
        this.logFailure(data.id, err, 'could not record a presence in Redis');
        if (!data.closed) ws.cork(() => reply(ws, msg, 'error', {}));
      },
    );
  }

  private untrack(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    msg: PhoenixMessage,
  ): Promise<void> | undefined {
    const { presence } = membership.broadcast!;
    const entry = presence.entry;
    if (!entry) {
      reply(ws, msg, 'ok', {});
      return;
    }
    presence.entry = null;
    presence.lastPayloadJson = null;
    const data = ws.getUserData();
    return this.opts.store.untrack(this.topicOf(membership), entry).then(
      () => {
        if (!data.closed) ws.cork(() => reply(ws, msg, 'ok', {}));
      },
      (err: unknown) => {
        this.logFailure(data.id, err, 'could not remove a presence from Redis');
        if (!data.closed) ws.cork(() => reply(ws, msg, 'error', {}));
      },
    );
  }

  private topicOf(membership: ChannelMembership): { subtopic: string; isPrivate: boolean } {
    return { subtopic: subtopicOf(membership.topic) ?? '', isPrivate: membership.broadcast!.group.isPrivate };
  }

  /** The reference's `system` error for a presence limit, then the channel closed. */
  private closeChannel(ws: WebSocket<SocketData>, membership: ChannelMembership, message: string): undefined {
    this.opts.metrics.limitRefusals.inc({ limit: 'presence' });
    this.opts.memberships.closeWithError(ws, membership, 'presence', message);
    return undefined;
  }

  private logFailure(connId: number, err: unknown, what: string): void {
    this.opts.replies.logThrottled('presence', (suppressed) =>
      this.opts.log.warn({ err, connId, code: 'BusUnavailable', suppressed }, what),
    );
  }
}
