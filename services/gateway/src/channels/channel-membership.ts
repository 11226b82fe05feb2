/**
 * A socket's membership of one channel topic, and its life: `joining` (waiting, at most a timeout,
 * for its delivery group's Redis subscriptions) → `joined` → `ended`. It owns its timers (the join
 * timeout, the token's expiry) and its wait, and ending it stops all of them, once; what a
 * membership is a member of (the group, the uWS topic) is the caller's to undo.
 */
import type { Identity } from '../rls/identity';
import type { BroadcastBinding } from './broadcast-config';
import type { DeliveryGroup } from './delivery-group';

export type MembershipState = 'joining' | 'joined' | 'ended';

/** setTimeout fires at once past 2^31-1 ms; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ChannelMembership {
  state: MembershipState = 'joining';
  /** The channel's verified token (SECURE_CHANNELS), replaced by `access_token` pushes; else null. */
  token: string | null = null;
  /** Its verified claims (`role` and `sub` decide row authorization); else null. */
  claims: Readonly<Record<string, unknown>> | null = null;
  /** A modern channel's broadcast part (every modern channel has one); null for a legacy channel. */
  broadcast: BroadcastBinding | null = null;
  private joinTimer: NodeJS.Timeout | null = null;
  private cancelWait: (() => void) | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly topic: string,
    /** The ref of the join; `phx_close`/`phx_error` carry it. */
    readonly joinRef: string | null,
    /** The join request, answered when the subscription is live (or when superseded first). */
    readonly request: { topic: string; ref: string | null; joinRef: string | null },
    /** Joined with `config` (postgres_changes semantics) or without (legacy semantics). */
    readonly modern: boolean,
    /** `null` for a modern channel that asked for no postgres_changes. */
    public group: DeliveryGroup | null,
    /** The same channel's group for another identity (row authorization, after a token refresh). */
    readonly rebuild: ((identity: Identity | null) => DeliveryGroup) | null,
  ) {}

  /**
   * Waits for the group's subscriptions: `onLive` once they are live (the membership is then
   * joined), or `onTimeout` if `timeoutMs` passes first. Without a group it is joined at once.
   */
  awaitLive(timeoutMs: number, onTimeout: () => void, onLive: () => void): void {
    const { group } = this;
    if (!group) {
      this.state = 'joined';
      return;
    }
    this.joinTimer = setTimeout(() => {
      this.joinTimer = null;
      if (this.state === 'joining') onTimeout();
    }, timeoutMs);
    this.cancelWait = group.whenLive(() => {
      this.cancelWait = null;
      if (this.state !== 'joining') return;
      if (this.joinTimer) clearTimeout(this.joinTimer);
      this.joinTimer = null;
      this.state = 'joined';
      onLive();
    });
  }

  /** Runs `onExpire` once `expiresAtMs` (epoch ms) has passed, replacing an earlier expiry. */
  expireAt(expiresAtMs: number, onExpire: () => void): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const arm = (): void => {
      const wait = expiresAtMs - Date.now();
      this.expiryTimer =
        wait > MAX_TIMER_MS
          ? setTimeout(arm, MAX_TIMER_MS)
          : setTimeout(
              () => {
                this.expiryTimer = null;
                if (this.state !== 'ended') onExpire();
              },
              Math.max(0, wait),
            );
    };
    arm();
  }

  /** Ends the membership: its wait, join timeout and expiry stop. Returns the state it had. */
  end(): MembershipState {
    const was = this.state;
    this.state = 'ended';
    this.cancelWait?.();
    this.cancelWait = null;
    if (this.joinTimer) clearTimeout(this.joinTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.joinTimer = null;
    this.expiryTimer = null;
    return was;
  }
}
