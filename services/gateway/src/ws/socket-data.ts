/**
 * The typed per-socket state, handed to `res.upgrade()` and read with `ws.getUserData()`. Nothing is
 * ever attached to the socket object itself.
 */
import type { PhoenixCodec } from '@walcast/protocol';
import type { ChannelMembership } from '../channels/channel-membership';
import type { MemberSocket } from '../channels/delivery-group';
import type { WebSocket } from '../uws';
import type { CloseReason } from '../metrics';
import type { TokenBucket } from '../channels/token-bucket';

export interface SocketData {
  /** Process-unique connection id, for logs (`connId`). */
  id: number;
  codec: PhoenixCodec;
  /** Joined channels by topic. */
  channels: Map<string, ChannelMembership>;
  /** `Date.now()` of the last inbound frame (idle timeout). */
  lastInboundAt: number;
  /** Set in the close handler: the uWS socket must not be touched afterwards. */
  closed: boolean;
  remoteAddress: string;
  /** Why the gateway closed it, when it did (for metrics); null otherwise. */
  closeReason: CloseReason | null;
  /** The verified connect token (SECURE_CHANNELS), the fallback token of every channel; else null. */
  connectToken: string | null;
  /**
   * Frames that arrived while an earlier one waits for a token check, handled in order once it is
   * done; `null` when nothing is pending.
   */
  inbox: unknown[] | null;
  /** The socket's join rate limit, made on its first join. */
  joinRate: TokenBucket | null;
  /** The socket's broadcast rate limit (all its channels), made on its first broadcast. */
  broadcastRate: TokenBucket | null;
}

/**
 * A delivery group's member as what it is, one of the gateway's sockets. The channel layer sees
 * members only as MemberSocket (their codec), so that it does not import this module.
 */
export function gatewaySocket(member: MemberSocket): WebSocket<SocketData> {
  return member as unknown as WebSocket<SocketData>;
}
