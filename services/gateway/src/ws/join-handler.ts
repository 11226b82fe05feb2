/**
 * Joins (`phx_join`): the client limits, the token check (SECURE_CHANNELS), row authorization's
 * checks, then the legacy (topic names the table) or modern (`config.postgres_changes`) join. A
 * legacy join is answered `ok` only once the channel's bus subscription is live, so a row committed
 * after the reply is delivered (docs/protocol.md L2, M2); a modern join is answered at once with its
 * bindings echoed, then told "Subscribed to PostgreSQL" once live.
 *
 * Returns a promise while it waits (token, database): the frame router holds the socket's later
 * frames until it settles.
 */
import {
  ErrorCodes,
  PhoenixEvents,
  errorReason,
  subtopicOf,
  type PhoenixMessage,
  isJsonObject,
} from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import { AuthError } from '../auth/auth-error';
import { channelToken, type VerifiedToken } from '../auth/token-verifier';
import type { BroadcastRegistry } from '../channels/broadcast-registry';
import type { ChannelRegistry } from '../channels/channel-registry';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import { identityOf } from '../rls/identity';
import type { TableAccessCatalog } from '../rls/table-access';
import type { WebSocket } from '../uws';
import type { ChannelAuth } from './channel-auth';
import type { ClientReplies } from './client-replies';
import { checkChannels, checkTopic, joinRateRefusal } from './client-limits';
import { TokenBucket } from '../channels/token-bucket';
import { pushLifecycle } from './frames';
import { JoinSupport } from './join-support';
import { LegacyJoin } from './legacy-join';
import type { Memberships } from './memberships';
import { ModernJoin } from './modern-join';
import type { PrivateChannels } from './private-channels';
import type { PresenceStore } from '../presence/presence-store';
import type { SocketData } from './socket-data';

export interface JoinHandlerOptions {
  registry: ChannelRegistry;
  broadcasts: BroadcastRegistry;
  joinTimeoutMs: number;
  /** Private channels' checks; null when they cannot be authorized here (no database). */
  privateChannels: PrivateChannels | null;
  presence: PresenceStore;
  /** PRIVATE_ONLY: public joins are refused. */
  privateOnly: boolean;
  limits: ClientLimits;
  /** ROW_AUTHORIZATION=postgres: channels read as their JWT's role and claims; else null. */
  rowAuth: { catalog: TableAccessCatalog } | null;
  /** Token checks; null when SECURE_CHANNELS is off (joins need no token). */
  auth: ChannelAuth | null;
  replies: ClientReplies;
  memberships: Memberships;
  metrics: GatewayMetrics;
  log: Logger;
}

export class JoinHandler {
  private readonly legacy: LegacyJoin;
  private readonly modern: ModernJoin;

  constructor(private readonly opts: JoinHandlerOptions) {
    const support = new JoinSupport(opts);
    this.legacy = new LegacyJoin({ ...opts, support });
    this.modern = new ModernJoin({ ...opts, support, openChannels: opts.auth === null });
  }

  /**
   * Takes a join's token from the socket's join rate, as the join arrives (before it may wait
   * behind another): past MAX_JOINS_PER_SECOND the join is refused and the socket closed (4004), as
   * the original server does (the client reconnects with backoff). False then.
   */
  withinJoinRate(ws: WebSocket<SocketData>, msg: PhoenixMessage): boolean {
    const data = ws.getUserData();
    const { limits } = this.opts;
    const now = Date.now();
    if ((data.joinRate ??= new TokenBucket(limits.maxJoinsPerSecond, now)).take(now)) return true;
    this.opts.replies.refuse(ws, msg, joinRateRefusal(limits));
    data.closeReason = 'join_rate';
    ws.end(ErrorCodes.ClientJoinRateLimitReached.close, 'too many joins per second');
    data.closed = true; // nothing more is read from or sent to it
    return false;
  }

  /** Handles a join that passed the join rate (withinJoinRate). */
  join(ws: WebSocket<SocketData>, msg: PhoenixMessage): Promise<void> | undefined {
    const data = ws.getUserData();
    const { limits } = this.opts;
    const subtopic = subtopicOf(msg.topic);
    if (subtopic === null) {
      this.opts.replies.joinError(ws, msg, 'unmatched topic');
      return;
    }
    const payload = isJsonObject(msg.payload) ? msg.payload : {};
    if (this.opts.privateOnly && !('config' in payload)) {
      // A join without config (the legacy topic API) cannot be private.
      this.opts.replies.joinError(
        ws,
        msg,
        errorReason('PrivateOnly', 'This project only allows private channels'),
      );
      return;
    }
    const refusal =
      checkChannels(data.channels.size, data.channels.has(msg.topic), limits) ??
      checkTopic(msg.topic, 'config' in payload, limits);
    if (refusal) {
      this.opts.replies.refuse(ws, msg, refusal);
      return;
    }
    const { auth } = this.opts;
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
      this.opts.replies.joinError(ws, msg, 'InvalidJWTToken: Fields `role` and `exp` are required in JWT');
      return;
    }
    const previous = data.channels.get(msg.topic);
    if (previous) {
      // A second join of a joined topic replaces the first (Phoenix shuts the old channel down).
      this.opts.memberships.end(ws, previous);
      pushLifecycle(ws, msg.topic, previous.joinRef, PhoenixEvents.close);
    }
    const authorize = (): void => {
      const membership = data.channels.get(msg.topic);
      if (auth && membership && membership.request.ref === msg.ref && membership.token === null)
        this.opts.auth?.authorize(ws, membership, auth.token, auth.verified);
    };
    const pending =
      'config' in payload
        ? this.modern.join(ws, msg, subtopic, payload.config, rowAuth)
        : this.legacy.join(ws, msg, subtopic, rowAuth);
    if (!pending) {
      authorize();
      return;
    }
    return pending.then(() => {
      if (!data.closed) ws.cork(authorize);
    });
  }
}
