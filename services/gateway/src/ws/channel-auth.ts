/**
 * Token rules of a joined channel (docs/protocol.md T2–T4, C6, C7): the reasons a join is
 * refused with, the expiry timer, and how a channel whose token fails or expires is ended —
 * `phx_error` for a legacy channel (the client rejoins), `system` error then `phx_close` for a
 * modern one.
 */
import { PhoenixEvents, clip, type PhoenixMessage } from '@walcast/protocol';
import { LogThrottle, type Logger } from '@walcast/logger';
import { AuthError, expired } from '../auth/auth-error';
import { cleanToken, isOpaqueKey, type TokenVerifier, type VerifiedToken } from '../auth/token-verifier';
import type { ChannelMembership } from '../channels/channel-membership';
import type { AuthStage, GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { pushErrorAndClose, pushLifecycle, reply } from './frames';
import type { SocketData } from './socket-data';

export interface ChannelAuthOptions {
  verifier: TokenVerifier;
  metrics: GatewayMetrics;
  log: Logger;
  /** Releases a membership and forgets it on its socket (the client is told separately). */
  endChannel(ws: WebSocket<SocketData>, membership: ChannelMembership): void;
  /** A refreshed token changed a joined channel's claims (after they were recorded). */
  claimsChanged?(ws: WebSocket<SocketData>, membership: ChannelMembership): void;
}

/** The token side of channels when SECURE_CHANNELS is on: join checks, refresh, expiry. */
export class ChannelAuth {
  constructor(private readonly opts: ChannelAuthOptions) {}

  /** The verified token, or the AuthError that refuses it (a missing token is malformed). */
  async check(token: string | null): Promise<VerifiedToken | AuthError> {
    try {
      return await this.opts.verifier.verify(token ?? '');
    } catch (err) {
      if (err instanceof AuthError) return err;
      throw err;
    }
  }

  /** Records the channel's token and claims and (re)arms its expiry timer. */
  authorize(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    token: string,
    verified: VerifiedToken,
  ): void {
    const data = ws.getUserData();
    membership.token = token;
    membership.claims = verified.claims;
    // The clock tolerance applies to verification only (skew between the issuer and us); a joined
    // channel ends at the `exp` its token states.
    membership.expireAt(verified.expiresAtMs, () => {
      if (data.closed || data.channels.get(membership.topic) !== membership) return;
      const exp = verified.expiresAtMs / 1000;
      ws.cork(() => this.endForToken(ws, membership, expired(exp), 'expiry'));
    });
  }

  /**
   * `access_token` push: a new token is verified and replaces the channel's, with no reply; a bad
   * one ends the channel. `sb_…` keys, the same token and non-strings are ignored (protocol T4).
   */
  refresh(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    payload: unknown,
  ): Promise<void> | undefined {
    const raw =
      typeof payload === 'object' && payload !== null
        ? (payload as Record<string, unknown>).access_token
        : undefined;
    if (typeof raw !== 'string' || isOpaqueKey(raw)) return;
    const token = cleanToken(raw);
    if (token === membership.token) return;
    const data = ws.getUserData();
    return this.check(token).then((result) => {
      if (data.closed || data.channels.get(membership.topic) !== membership) return;
      ws.cork(() => {
        if (result instanceof AuthError) {
          this.endForToken(ws, membership, result, 'refresh');
          return;
        }
        this.authorize(ws, membership, token, result);
        this.opts.claimsChanged?.(ws, membership);
      });
    });
  }

  /** Answers a join whose token was refused. */
  refuseJoin(ws: WebSocket<SocketData>, msg: PhoenixMessage, isModern: boolean, err: AuthError): void {
    this.opts.metrics.joins.inc({ result: 'unauthorized' });
    reportRefusal(
      this.opts,
      'join',
      err,
      { connId: ws.getUserData().id, channel: msg.topic },
      'join refused',
    );
    reply(ws, msg, 'error', { reason: joinRefusal(msg.topic, isModern, err) });
  }

  /** Ends a joined channel whose token failed or expired (legacy: phx_error; modern: system + phx_close). */
  private endForToken(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    err: AuthError,
    stage: 'refresh' | 'expiry',
  ): void {
    reportRefusal(
      this.opts,
      stage,
      err,
      { connId: ws.getUserData().id, channel: membership.topic },
      'channel token refused',
    );
    const stillJoining = membership.state === 'joining' && !membership.modern;
    this.opts.endChannel(ws, membership);
    if (stillJoining) reply(ws, membership.request, 'error', { reason: legacyRefusal(membership.topic) });
    else pushTokenFailure(ws, membership, err.message);
  }
}

/** Refusals a client can repeat at will are logged at most this often per stage and reason. */
const refusalLog = new LogThrottle({ max: 20, windowMs: 10_000 });

/**
 * Counts a refused token by stage and reason and logs it, with its codes and never the token: at
 * info (a client fault; throttled, since a client can repeat it at will), or at warn when the keys
 * could not be fetched (our fault).
 */
export function reportRefusal(
  { metrics, log }: { metrics: GatewayMetrics; log: Logger },
  stage: AuthStage,
  err: AuthError,
  context: Record<string, unknown>,
  msg: string,
): void {
  metrics.authRefusals.inc({ stage, reason: err.failure });
  const fields: Record<string, unknown> = { ...context, code: err.code, reason: err.failure };
  if (typeof fields.channel === 'string') fields.channel = clip(fields.channel, 100);
  if (err.failure === 'key-unavailable') log.warn({ ...fields, err: err.cause }, msg);
  else
    refusalLog.run(`${stage}:${err.failure}`, (suppressed) =>
      log.info(suppressed > 0 ? { ...fields, suppressed } : fields, msg),
    );
}

/** The join error reason for a refused token: the original legacy wording, or the modern one (protocol T3). */
export function joinRefusal(topic: string, isModern: boolean, err: AuthError): string {
  return isModern ? err.reason : legacyRefusal(topic);
}

/** The v0.20–v0.22 join error for an invalid token. */
export const legacyRefusal = (topic: string): string =>
  `error occurred when joining ${topic} with user token`;

/** Tells the client its channel ended because of its token (the caller releases the membership). */
export function pushTokenFailure(
  ws: WebSocket<SocketData>,
  membership: ChannelMembership,
  message: string,
): void {
  if (!membership.modern) {
    pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.error);
    return;
  }
  pushErrorAndClose(ws, membership.topic, membership.joinRef, 'system', message);
}
