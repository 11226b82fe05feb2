/**
 * A modern join's broadcast settings, read as Supabase Realtime reads them: `config.broadcast.self`
 * and `config.broadcast.ack` (booleans, or the strings "true"/"false"; anything else is false),
 * `config.broadcast.replay` `{since, limit}` and `config.private`. A malformed shape is read as the
 * defaults, not refused (the original server logs it and carries on).
 */
import { isJsonObject } from '@walcast/protocol';
import type { TokenBucket } from './token-bucket';
import type { BroadcastGroup, FilteredMember } from './broadcast-group';
import type { PresenceBinding } from './presence-binding';

/** Most stored messages one join may replay (the original server's limit). */
export const MAX_REPLAY_MESSAGES = 25;

export interface ReplayRequest {
  /** Epoch milliseconds: messages inserted at or after it. */
  since: number;
  /** 1 to MAX_REPLAY_MESSAGES. */
  limit: number;
}

export interface BroadcastConfig {
  /** Whether the sender's own channel receives its messages. */
  self: boolean;
  /** Whether each push is answered once Redis accepted it. */
  ack: boolean;
  isPrivate: boolean;
  /** Null unless the join asked for a replay. */
  replay: ReplayRequest | null;
}

function flag(value: unknown): boolean {
  return value === true || value === 'true';
}

export function readBroadcastConfig(config: unknown): BroadcastConfig {
  const c = isJsonObject(config) ? config : {};
  const b = isJsonObject(c.broadcast) ? c.broadcast : {};
  let replay: ReplayRequest | null = null;
  if (isJsonObject(b.replay)) {
    const since = Number(b.replay.since ?? 0);
    const limit =
      b.replay.limit === undefined || b.replay.limit === null ? MAX_REPLAY_MESSAGES : Number(b.replay.limit);
    replay = {
      since: Number.isFinite(since) ? Math.max(0, since) : 0,
      limit: Number.isFinite(limit)
        ? Math.min(MAX_REPLAY_MESSAGES, Math.max(1, Math.trunc(limit)))
        : MAX_REPLAY_MESSAGES,
    };
  }
  return { self: flag(b.self), ack: flag(b.ack), isPrivate: flag(c.private), replay };
}

/** A channel's part in broadcast: its group, its settings, its send rate. */
export interface BroadcastBinding {
  readonly group: BroadcastGroup;
  readonly config: BroadcastConfig;
  readonly rate: TokenBucket;
  /** Set when the channel replayed stored messages: it receives through its own send. */
  readonly filtered: FilteredMember | null;
  /**
   * Private channels: whether the channel may send, checked on its first broadcast and kept until
   * its token changes (null: not checked yet). Public channels: always true.
   */
  canWrite: boolean | null;
  /** Whether it receives broadcasts (private channels: its read permission for them; else true). */
  readonly readsBroadcast: boolean;
  /** Its presence. */
  readonly presence: PresenceBinding;
}
