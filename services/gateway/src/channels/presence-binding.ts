/**
 * A channel's presence: its key, whether it reads presence, what it tracks now, and the rate of its
 * track calls. The reference's rules: `config.presence.key` (empty or missing: a fresh id per join),
 * `config.presence.enabled` (realtime-js sets it when the channel has a presence listener; a first
 * `track` enables it too), at most CLIENT_PRESENCE_MAX_CALLS track/untrack calls per
 * CLIENT_PRESENCE_WINDOW_MS per channel.
 */
import { isJsonObject } from '@walcast/protocol';
import { randomBytes, randomUUID } from 'node:crypto';
import type { PresenceEntry } from '../presence/presence-store';

export interface PresenceConfig {
  enabled: boolean;
  key: string;
}

export function readPresenceConfig(config: unknown): PresenceConfig {
  const c = isJsonObject(config) && isJsonObject(config.presence) ? config.presence : {};
  const key = typeof c.key === 'string' && c.key !== '' ? c.key : randomUUID();
  return { enabled: c.enabled === true || c.enabled === 'true', key };
}

/** A fresh `phx_ref`: url-safe base64, as Phoenix's. */
export function newPhxRef(): string {
  return randomBytes(12).toString('base64url');
}

/** `presence_state`'s payload: the entries grouped by key, `{key: {metas: [...]}}`. */
export function presenceState(entries: readonly PresenceEntry[]): Record<string, { metas: unknown[] }> {
  const state: Record<string, { metas: unknown[] }> = {};
  for (const { key, meta } of entries) (state[key] ??= { metas: [] }).metas.push(meta);
  return state;
}

export class PresenceBinding {
  /** What this channel tracks now (null: nothing). */
  entry: PresenceEntry | null = null;
  /** The JSON of the payload last tracked: an identical track changes nothing. */
  lastPayloadJson: string | null = null;
  /** Private channels: may it track (checked on its first track; null: not yet)? Public: true. */
  canWrite: boolean | null;
  private calls: number[] = [];

  constructor(
    readonly key: string,
    /** Whether it receives presence_state and presence_diff. */
    public enabled: boolean,
    isPrivate: boolean,
  ) {
    this.canWrite = isPrivate ? null : true;
  }

  /** Counts a track or untrack call; false when it is over `max` calls in `windowMs`. */
  takeCall(now: number, max: number, windowMs: number): boolean {
    this.calls = this.calls.filter((t) => now - t < windowMs);
    if (this.calls.length >= max) return false;
    this.calls.push(now);
    return true;
  }
}
