/**
 * A join with `config` (realtime-js 2.x, supabase-js 2.x). The channel's broadcast subscription is
 * made live first (so a message sent after SUBSCRIBED reaches it, from any gateway); then the reply
 * echoes `config.postgres_changes` verbatim with ids, and a `system` message follows, "Subscribed to
 * PostgreSQL" once those subscriptions are live, or an error per binding that cannot be served
 * (docs/protocol.md M2).
 */
import {
  PhoenixEvents,
  errorReason,
  type BroadcastMessage,
  type PhoenixMessage,
  isJsonObject,
} from '@walcast/protocol';
import {
  readBroadcastConfig,
  type BroadcastBinding,
  type BroadcastConfig,
  type ReplayRequest,
} from '../channels/broadcast-config';
import type { BroadcastGroup, FilteredMember } from '../channels/broadcast-group';
import { BroadcastRegistry } from '../channels/broadcast-registry';
import type { DeliveryGroup } from '../channels/delivery-group';
import { bindingId, parseBinding, type Binding } from '../channels/postgres-changes-binding';
import type { ClientLimits } from '../config';
import type { Identity } from '../rls/identity';
import type { WebSocket } from '../uws';
import { checkBindings } from './client-limits';
import { push, pushLifecycle, reply } from './frames';
import type { JoinKindOptions } from './legacy-join';
import type { PrivateChannels } from './private-channels';
import {
  PresenceBinding,
  presenceState,
  readPresenceConfig,
  type PresenceConfig,
} from '../channels/presence-binding';
import { readRefusedReason } from '../rls/channel-authorizer';
import type { PresenceStore } from '../presence/presence-store';
import type { Logger } from '@walcast/logger';
import type { SocketData } from './socket-data';
import { TokenBucket } from '../channels/token-bucket';

export interface ModernJoinOptions extends JoinKindOptions {
  limits: ClientLimits;
  broadcasts: BroadcastRegistry;
  joinTimeoutMs: number;
  /** Private channels' checks; null when they cannot be authorized here (no database). */
  privateChannels: PrivateChannels | null;
  /** Presence across gateways. */
  presence: PresenceStore;
  /** PRIVATE_ONLY: public joins are refused. */
  privateOnly: boolean;
  log: Logger;
  /**
   * SECURE_CHANNELS off: every channel is open to every client, private ones too (there is no
   * token to authorize them with), so a private join is served without checks.
   */
  openChannels: boolean;
}

/** A modern join on its way: what was asked, as read from the frame. */
interface PendingJoin {
  ws: WebSocket<SocketData>;
  msg: PhoenixMessage;
  subtopic: string;
  /** `config.postgres_changes` as sent (echoed in the reply). */
  requested: unknown[];
  /** The bindings that parsed, and the errors of those that did not. */
  bindings: Binding[];
  errors: string[];
  /** With row authorization: what the channel reads as. */
  identity: Identity | null;
  broadcast: BroadcastConfig;
  presence: PresenceConfig;
  /** What the channel may read (private channels: its permissions; public: everything). */
  reads: { broadcast: boolean; presence: boolean };
}

export class ModernJoin {
  constructor(private readonly opts: ModernJoinOptions) {}

  join(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    config: unknown,
    identity: Identity | null,
  ): Promise<void> | undefined {
    const { replies, limits } = this.opts;
    if (subtopic === '') {
      replies.joinError(ws, msg, errorReason('TopicNameRequired', 'You must provide a topic name'));
      return;
    }
    const broadcast = readBroadcastConfig(config);
    const { privateChannels } = this.opts;
    if (this.opts.privateOnly && !broadcast.isPrivate) {
      replies.joinError(ws, msg, errorReason('PrivateOnly', 'This project only allows private channels'));
      return;
    }
    const checked = broadcast.isPrivate && privateChannels !== null && identity !== null;
    if (broadcast.isPrivate && !checked && !this.opts.openChannels) {
      replies.joinError(
        ws,
        msg,
        errorReason(
          'PrivateChannelUnavailable',
          'private channels are authorized by policies on realtime.messages, which needs row authorization (ROW_AUTHORIZATION=postgres and a database: DATABASE_URL or DB_*) on this server',
        ),
      );
      return;
    }
    if (broadcast.replay && !broadcast.isPrivate) {
      replies.joinError(
        ws,
        msg,
        errorReason('UnableToReplayMessages', 'Replay is not allowed for public channels'),
      );
      return;
    }
    if (broadcast.replay && !privateChannels) {
      const why =
        'replay reads stored messages from the database, which needs row authorization on this server';
      replies.joinError(ws, msg, errorReason('UnableToReplayMessages', why));
      return;
    }
    const requested =
      isJsonObject(config) && Array.isArray(config.postgres_changes) ? config.postgres_changes : [];
    const refusal = checkBindings(requested, limits);
    if (refusal) {
      replies.refuse(ws, msg, refusal);
      return;
    }
    const bindings: Binding[] = [];
    const errors: string[] = [];
    for (const entry of requested) {
      const parsed = parseBinding(entry, limits.maxFilterBytes);
      if ('error' in parsed) errors.push(parsed.error);
      else bindings.push(parsed);
    }
    const keys = [...bindings.map((b) => b.busKey), BroadcastRegistry.busKey(subtopic, broadcast.isPrivate)];
    if (this.opts.support.refusedForSubscriptions(ws, msg, keys)) return;
    const presence = readPresenceConfig(config);
    const join: PendingJoin = {
      ws,
      msg,
      subtopic,
      requested,
      bindings,
      errors,
      identity,
      broadcast,
      presence,
      reads: { broadcast: true, presence: true },
    };
    if (!checked) return this.subscribe(join);
    const data = ws.getUserData();
    return privateChannels.readAccess(identity, subtopic, presence.enabled).then((access) => {
      if (data.closed) return;
      let pending: Promise<void> | undefined;
      ws.cork(() => {
        // A replay needs the permission to read broadcasts.
        const refusal =
          typeof access === 'string'
            ? access
            : broadcast.replay && !access.broadcast
              ? readRefusedReason(subtopic)
              : null;
        if (refusal !== null || typeof access === 'string') {
          this.opts.metrics.joins.inc({ result: 'unauthorized' });
          replies.joinError(ws, msg, refusal ?? '');
        } else pending = this.subscribe({ ...join, reads: access });
      });
      return pending;
    });
  }

  /** Makes the channel's broadcast subscription live (within JOIN_TIMEOUT), then joins. */
  private subscribe(join: PendingJoin): Promise<void> | undefined {
    const { ws, msg, subtopic, broadcast } = join;
    const { replies } = this.opts;
    const group = this.opts.broadcasts.group(subtopic, broadcast.isPrivate);
    group.pin();
    const joinLive = (
      filtered: FilteredMember | null,
      replayed: BroadcastMessage[],
    ): Promise<void> | undefined => this.joinLive(join, group, filtered, replayed);
    const proceed = (): Promise<void> | undefined =>
      broadcast.replay
        ? this.replayThenJoin(ws, msg, subtopic, group, broadcast.replay, joinLive)
        : joinLive(null, []);
    if (group.busEntry.live) return proceed();
    const data = ws.getUserData();
    return this.whenLive(group).then((live) => {
      if (data.closed || !live) {
        group.unpin();
        this.opts.broadcasts.releaseIfEmpty(group);
        if (!data.closed)
          ws.cork(() =>
            replies.joinError(
              ws,
              msg,
              errorReason('BusUnavailable', 'could not subscribe to broadcasts in time; retry'),
            ),
          );
        return;
      }
      let pending: Promise<void> | undefined;
      ws.cork(() => {
        pending = proceed();
      });
      return pending;
    });
  }

  /**
   * Reads the messages to replay while holding back live ones (the member is filtered: it skips the
   * live copies of what it replayed), then joins; a database that cannot answer refuses the join.
   */
  private replayThenJoin(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    group: BroadcastGroup,
    request: ReplayRequest,
    joinLive: (filtered: FilteredMember, replayed: BroadcastMessage[]) => Promise<void> | undefined,
  ): Promise<void> {
    const data = ws.getUserData();
    const member = group.addFiltered(ws);
    const giveUp = (): void => {
      group.remove(ws);
      group.unpin();
      this.opts.broadcasts.releaseIfEmpty(group);
    };
    return this.opts.privateChannels!.replay(subtopic, request).then(
      (messages) => {
        if (data.closed) return giveUp();
        let pending: Promise<void> | undefined;
        ws.cork(() => {
          pending = joinLive(member, messages);
        });
        return pending;
      },
      () => {
        giveUp();
        if (data.closed) return;
        const reason = errorReason('UnableToReplayMessages', 'could not read the messages to replay; retry');
        ws.cork(() => this.opts.replies.joinError(ws, msg, reason));
      },
    );
  }

  /**
   * `presence_state` to a channel that reads presence, once its membership is attached after the
   * join: every presence of the topic, from every gateway. Diffs that arrive first are held by the
   * client until it has the state.
   */
  private pushPresenceState(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    isPrivate: boolean,
  ): void {
    const data = ws.getUserData();
    const joinRef = msg.joinRef ?? msg.ref;
    this.opts.presence.list({ subtopic, isPrivate }).then(
      (entries) => {
        const membership = data.channels.get(msg.topic);
        if (data.closed || !membership || membership.joinRef !== joinRef) return;
        ws.cork(() => push(ws, msg.topic, joinRef, PhoenixEvents.presenceState, presenceState(entries)));
      },
      (err: unknown) => {
        this.opts.replies.logThrottled('presence-state', (suppressed) =>
          this.opts.log.warn(
            { err, connId: data.id, code: 'BusUnavailable', suppressed },
            'could not read a topic’s presence state',
          ),
        );
        if (data.closed) return;
        ws.cork(() =>
          push(ws, msg.topic, joinRef, PhoenixEvents.system, {
            channel: subtopic,
            extension: 'presence',
            message: errorReason('BusUnavailable', 'could not read who is present; rejoin to retry'),
            status: 'error',
          }),
        );
      },
    );
  }

  /** Resolves true once the group's subscription is live, false after JOIN_TIMEOUT. */
  private whenLive(group: BroadcastGroup): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        cancel();
        resolve(false);
      }, this.opts.joinTimeoutMs);
      const cancel = group.busEntry.whenLive(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** The join once its broadcast subscription is live: the reply, then postgres_changes. */
  private joinLive(
    join: PendingJoin,
    broadcastGroup: BroadcastGroup,
    filtered: FilteredMember | null,
    replayed: BroadcastMessage[],
  ): Promise<void> | undefined {
    const { ws, msg, subtopic, requested, bindings, errors, identity, broadcast, presence, reads } = join;
    const { replies } = this.opts;
    const echo = requested.map((entry: unknown) => ({
      id: bindingId(entry),
      ...(isJsonObject(entry) ? entry : {}),
    }));
    this.opts.metrics.joins.inc({ result: 'ok' });
    reply(ws, msg, 'ok', { postgres_changes: echo });
    if (filtered) this.opts.broadcasts.replayTo(broadcastGroup, filtered, replayed);
    const binding: BroadcastBinding = {
      group: broadcastGroup,
      config: broadcast,
      rate: new TokenBucket(this.opts.limits.maxChannelBroadcastsPerSecond, Date.now()),
      filtered,
      canWrite: broadcast.isPrivate && this.opts.privateChannels ? null : true,
      readsBroadcast: reads.broadcast,
      presence: new PresenceBinding(
        presence.key,
        presence.enabled && reads.presence,
        broadcast.isPrivate && this.opts.privateChannels !== null,
      ),
    };
    let pinned = true;
    let attached = false;
    const unpin = (): void => {
      if (!pinned) return;
      pinned = false;
      if (!attached && filtered) broadcastGroup.remove(ws);
      broadcastGroup.unpin();
      this.opts.broadcasts.releaseIfEmpty(broadcastGroup);
    };
    const subscribe = (served: Binding[], refused: string[]): void => {
      for (const message of refused) replies.pushSystemError(ws, msg, subtopic, message);
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.postgresChangesGroup(msg.topic, served, as);
      const group = served.length > 0 ? rebuild(identity) : null;
      // Bindings with `since` get the history after it first (ws/channel-resume.ts).
      const sinceById = new Map(served.flatMap((b) => (b.since !== null ? [[b.id, b.since] as const] : [])));
      const registry = this.opts.registry;
      this.opts.memberships.attach(
        ws,
        msg,
        group,
        true,
        group ? rebuild : null,
        () => replies.pushSubscribed(ws, msg, subtopic, sinceById.size > 0 ? null : registry.lastPosition),
        binding,
        sinceById.size > 0 ? { sinceById } : null,
      );
      attached = true;
      unpin();
      // Read only now: the state is pushed to the channel's membership, which a join whose bindings
      // were checked against the database has only from here on.
      if (binding.presence.enabled) this.pushPresenceState(ws, msg, subtopic, broadcast.isPrivate);
    };
    if (!identity || bindings.length === 0) {
      subscribe(bindings, errors);
      return;
    }
    return this.opts.support
      .checkRows(
        ws,
        identity,
        bindings.map((b) => ({ schema: b.schema, table: b.table, columns: b.columns })),
        (problems) => {
          const served = bindings.filter((_, i) => problems[i] === null);
          subscribe(served, [...errors, ...problems.filter((p): p is string => p !== null)]);
        },
        () => {
          unpin();
          const reason = errorReason(
            'RowAuthorizationUnavailable',
            'could not check the join against the database; retry',
          );
          replies.pushSystemError(ws, msg, subtopic, reason);
          pushLifecycle(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.error);
        },
      )
      .finally(unpin); // the socket closed while its rows were checked
  }
}
