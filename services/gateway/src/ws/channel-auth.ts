/**
 * Token rules of a joined channel (protocol.md §2.1, §3.2, §3.7, decision 6): the reasons a join is
 * refused with, the expiry timer, and how a channel whose token fails or expires is ended —
 * `phx_error` for a legacy channel (the client rejoins), `system` error then `phx_close` for a
 * modern one.
 */
import { PhoenixEvents, subtopicOf } from '@walcast/protocol';
import type { AuthError } from '../auth/auth-error';
import type { ChannelMembership } from '../channels/channel-registry';
import type { WebSocket } from '../uws';
import { push, pushLifecycle } from './frames';
import type { SocketData } from './socket-data';

/** setTimeout fires at once past 2^31-1 ms; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The join error reason for a refused token: the original legacy wording, or §3.3's for modern joins. */
export function joinRefusal(topic: string, isModern: boolean, err: AuthError): string {
  return isModern ? err.reason : legacyRefusal(topic);
}

/** The v0.20–v0.22 join error for an invalid token. */
export const legacyRefusal = (topic: string): string =>
  `error occurred when joining ${topic} with user token`;

/** Runs `onExpire` once `expiresAtMs + toleranceMs` has passed (one timer, re-armed for long waits). */
export function scheduleExpiry(
  membership: ChannelMembership,
  expiresAtMs: number,
  toleranceMs: number,
  onExpire: () => void,
): void {
  if (membership.expiryTimer) clearTimeout(membership.expiryTimer);
  const arm = (): void => {
    const wait = expiresAtMs + toleranceMs - Date.now();
    membership.expiryTimer =
      wait > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(onExpire, Math.max(0, wait));
  };
  arm();
}

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
  push(ws, membership.topic, membership.joinRef, PhoenixEvents.system, {
    channel: subtopicOf(membership.topic),
    extension: 'system',
    message,
    status: 'error',
  });
  pushLifecycle(ws, membership.topic, membership.joinRef, PhoenixEvents.close);
}
