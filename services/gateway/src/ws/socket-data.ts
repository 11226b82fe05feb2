/**
 * The typed per-socket state, handed to `res.upgrade()` and read with `ws.getUserData()`. Nothing is
 * ever attached to the socket object itself.
 */
import type { PhoenixCodec } from '@walcast/protocol';
import type { ChannelMembership } from '../channels/channel-registry';

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
}
