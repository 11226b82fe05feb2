/**
 * The life of a socket's channel memberships: joining a delivery group and waiting for its
 * subscription (within JOIN_TIMEOUT), ending on leave or supersession, release on close, failure
 * with `phx_error` when changes may have been missed, and the move to another group when row
 * authorization's identity changes. Every membership a socket holds is released when it leaves,
 * rejoins or closes.
 */
import { PhoenixEvents, errorReason, type PhoenixMessage } from '@walcast/protocol';
import type { BroadcastBinding } from '../channels/broadcast-config';
import type { BroadcastRegistry } from '../channels/broadcast-registry';
import type { DeliveryGroup } from '../channels/delivery-group';
import { ChannelMembership } from '../channels/channel-membership';
import type { ChannelRegistry } from '../channels/channel-registry';
import type { PresenceEntry, PresenceTopic } from '../presence/presence-store';
import { identityOf, type Identity } from '../rls/identity';
import type { WebSocket } from '../uws';
import { pushTokenFailure } from './channel-auth';
import type { ClientReplies } from './client-replies';
import { pushErrorAndClose, pushErrorAndFail, pushLifecycle, reply } from './frames';
import { gatewaySocket, type SocketData } from './socket-data';
import type { ChannelResume, ResumeRequest } from './channel-resume';

export interface MembershipsOptions {
  registry: ChannelRegistry;
  broadcasts: BroadcastRegistry;
  joinTimeoutMs: number;
  replies: ClientReplies;
  /** With row authorization, a channel's group follows its identity. */
  rowAuth: boolean;
  /** Removes what a channel tracked when it ends (its presence leaves everywhere). */
  untrack(topic: PresenceTopic, entry: PresenceEntry): void;
  /** Replays the history to channels that join with `since`. */
  resume: ChannelResume;
}

export class Memberships {
  constructor(private readonly opts: MembershipsOptions) {}

  /**
   * Makes `ws` a member of `group` for `msg.topic` and runs `onLive` (corked) once the group's
   * subscriptions are live. If that takes longer than JOIN_TIMEOUT the channel fails: a legacy join
   * is answered with an error, a modern channel gets a `system` error and `phx_error` (the client
   * rejoins with backoff). A modern channel's `broadcast` part is live already: it receives from now.
   * With `resume` (a join with `since`), the history is replayed to it before it goes live.
   */
  attach(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    group: DeliveryGroup | null,
    modern: boolean,
    rebuild: ((identity: Identity | null) => DeliveryGroup) | null,
    onLive: () => void,
    broadcast: BroadcastBinding | null = null,
    resume: ResumeRequest | null = null,
  ): ChannelMembership {
    const data = ws.getUserData();
    const joinRef = msg.joinRef ?? msg.ref;
    const request = { topic: msg.topic, ref: msg.ref, joinRef: msg.joinRef };
    const membership = new ChannelMembership(msg.topic, joinRef, request, modern, group, rebuild);
    data.channels.set(msg.topic, membership);
    if (broadcast) {
      membership.broadcast = broadcast;
      if (broadcast.readsBroadcast && !broadcast.filtered) {
        broadcast.group.add(ws);
        ws.subscribe(broadcast.group.uwsTopic(data.codec.vsn));
      }
      if (broadcast.presence.enabled) this.readPresence(ws, broadcast);
    }
    group?.add(ws);
    const current = (): boolean => !data.closed && data.channels.get(msg.topic) === membership;
    membership.awaitLive(
      this.opts.joinTimeoutMs,
      () => {
        if (!current()) return;
        this.release(ws, membership);
        data.channels.delete(msg.topic);
        const reason = errorReason('BusUnavailable', 'could not subscribe to changes in time; retry');
        ws.cork(() => {
          if (!modern) {
            this.opts.replies.joinError(ws, msg, reason);
            return;
          }
          pushErrorAndFail(ws, msg.topic, joinRef, 'postgres_changes', reason);
        });
      },
      () => {
        if (!current()) return;
        ws.cork(() => {
          if (resume) {
            onLive();
            this.opts.resume.start(
              ws,
              membership,
              resume,
              (live) => ws.subscribe(live.uwsTopic(data.codec.vsn)),
              () => this.end(ws, membership),
            );
            return;
          }
          // The group may have changed meanwhile (an access_token with other claims).
          ws.subscribe(membership.group!.uwsTopic(data.codec.vsn));
          onLive();
        });
      },
    );
    return membership;
  }

  /** Makes the channel a presence reader: it receives presence_diff from now on. */
  readPresence(ws: WebSocket<SocketData>, broadcast: BroadcastBinding): void {
    if (broadcast.group.readsPresence(ws)) return;
    broadcast.group.addPresence(ws);
    ws.subscribe(broadcast.group.presenceTopic(ws.getUserData().codec.vsn));
  }

  /** Ends a modern channel with a `system` error about `extension`, then `phx_close`. */
  closeWithError(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    extension: string,
    message: string,
  ): void {
    this.end(ws, membership);
    pushErrorAndClose(ws, membership.topic, membership.joinRef, extension, message);
  }

  leave(ws: WebSocket<SocketData>, membership: ChannelMembership, msg: PhoenixMessage): void {
    this.end(ws, membership);
    reply(ws, msg, 'ok', {});
    pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.close);
  }

  /**
   * Ends a membership that a later frame supersedes (leave, second join). A legacy join still
   * waiting for its subscription is answered first, so every join gets its reply, in order.
   */
  end(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    if (membership.state === 'joining' && !membership.modern) reply(ws, membership.request, 'ok', {});
    this.release(ws, membership);
    ws.getUserData().channels.delete(membership.topic);
  }

  /** Undoes a membership: its wait and timers, its uWS topic (while the socket is open), its group count. */
  release(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
    const data = ws.getUserData();
    const was = membership.end();
    const { broadcast } = membership;
    if (broadcast) {
      membership.broadcast = null;
      const { group, presence } = broadcast;
      if (!data.closed) {
        if (broadcast.readsBroadcast && !broadcast.filtered) ws.unsubscribe(group.uwsTopic(data.codec.vsn));
        if (group.readsPresence(ws)) ws.unsubscribe(group.presenceTopic(data.codec.vsn));
      }
      group.remove(ws);
      if (presence.entry)
        this.opts.untrack({ subtopic: group.subtopic, isPrivate: group.isPrivate }, presence.entry);
      presence.entry = null;
      this.opts.broadcasts.releaseIfEmpty(group);
    }
    const { group } = membership;
    if (!group) return;
    if (was === 'joined' && !data.closed) ws.unsubscribe(group.uwsTopic(data.codec.vsn));
    group.remove(ws);
    this.opts.registry.releaseIfEmpty(group);
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
  regroup(ws: WebSocket<SocketData>, membership: ChannelMembership): void {
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
}
