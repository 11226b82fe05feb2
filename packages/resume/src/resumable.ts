/**
 * Makes a realtime channel resume where it left off: it records the last change position each
 * `postgres_changes` binding received (walcast puts `position` on every change) and hands it back
 * as `since` whenever the channel joins again (a dropped network, a sleeping tab, a redeployed
 * gateway), so the server replays what the channel missed before going live. When the server no
 * longer holds everything after that position it says so once (`HistoryGap`): `onHistoryGap` is
 * the moment to refetch.
 *
 * Works with the unchanged published clients: supabase-js / realtime-js 2.x channels (bindings'
 * `filter` objects are part of the join payload; `since` is added to them) and realtime-js 1.x
 * channels (`since` is added to the join params). It reads the raw messages where each client
 * generation passes them (realtime-js 2.x transforms `postgres_changes` payloads and drops
 * `position` before your callbacks see it), without changing what your callbacks receive. Call it
 * before `subscribe()`. No dependencies.
 */

/** What the server said when it could not replay everything after a binding's `since`. */
export interface HistoryGap {
  /** The server's message: `HistoryGap: changes after … are no longer all held (…); refetch`. */
  message: string;
  /** The oldest position the server still holds, when it named one. */
  oldest: string | null;
}

export interface ResumeOptions {
  /** Called once per gap: refetch the data this channel shows, then carry on (it stays live). */
  onHistoryGap?(gap: HistoryGap): void;
  /**
   * Where to start on the first join (for example a position saved in localStorage by
   * {@link Resumable.position} before the page was closed).
   */
  since?: string;
}

export interface Resumable {
  /** The last position received (the highest), or null before any. */
  position(): string | null;
}

/** The parts of a realtime-js 2.x channel this uses. */
interface ModernChannel {
  bindings: { postgres_changes?: Array<{ id?: number | string; filter: Record<string, unknown> }> };
  on(type: 'system', filter: Record<string, never>, callback: (payload: unknown) => void): unknown;
  /** realtime-js ≥ 2.100: the phoenix channel under the adapter. */
  channelAdapter?: { channel?: { onMessage?: MessageHook } };
  /** realtime-js 2.x before the phoenix adapter. */
  _trigger?: (type: string, payload?: unknown, ref?: string) => void;
}

/** The parts of a realtime-js 1.x channel (RealtimeSubscription) this uses. */
interface LegacyChannel {
  params: Record<string, unknown>;
  trigger(event: string, payload?: unknown, ref?: string): void;
}

type MessageHook = (event: string, payload: unknown, ref?: unknown, joinRef?: unknown) => unknown;

const POSITION = /^[0-9A-F]{16}-[0-9A-F]{8,13}$/;

/** Position order (fixed-width hex: string order, then length for very large indexes). */
function isAfter(a: string, b: string | null): boolean {
  if (b === null) return true;
  return a.length !== b.length ? a.length > b.length : a > b;
}

function isPosition(value: unknown): value is string {
  return typeof value === 'string' && POSITION.test(value);
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/**
 * Wraps `channel` (from `supabase.channel(…)`, `realtimeClient.channel(…)` or realtime-js 1.x
 * `client.channel(…)`) so that it resumes; returns a handle that tells the last position.
 */
export function resumable<C extends object>(channel: C, options: ResumeOptions = {}): C & Resumable {
  let last: string | null = options.since && isPosition(options.since) ? options.since : null;
  const onGap = (payload: unknown): void => {
    const p = record(payload);
    const message = typeof p?.message === 'string' ? p.message : '';
    if (!message.startsWith('HistoryGap')) return;
    const oldest = /oldest position held is ([0-9A-F-]+)/.exec(message)?.[1] ?? null;
    options.onHistoryGap?.({ message, oldest });
  };
  const target = channel as unknown as ModernChannel & LegacyChannel;
  if (record(target.bindings) !== null) {
    const modern = target as ModernChannel;
    const bindings = (): Array<{ id?: number | string; filter: Record<string, unknown> }> =>
      modern.bindings.postgres_changes ?? [];
    /** Every binding resumes from `position` at least (changes arrive in order on one socket). */
    const advance = (position: string, ids: unknown): void => {
      if (isAfter(position, last)) last = position;
      const matched = Array.isArray(ids) ? new Set(ids.map(String)) : null;
      for (const b of bindings()) {
        const since = b.filter.since;
        const own = matched?.has(String(b.id)) ?? false;
        if (own || !isPosition(since)) {
          if (!isPosition(since) || isAfter(position, since)) b.filter.since = position;
        }
      }
    };
    const observe: MessageHook = (event, payload) => {
      const p = record(payload);
      if (event === 'postgres_changes') {
        const position = record(p?.data)?.position;
        if (isPosition(position)) advance(position, p?.ids);
      } else if (event === 'system' && p?.status === 'ok' && isPosition(p.position)) {
        // "Subscribed to PostgreSQL": where a binding that has received nothing yet resumes from.
        for (const b of bindings()) if (!isPosition(b.filter.since)) b.filter.since = p.position;
        if (last === null) last = p.position;
      }
    };
    const inner = modern.channelAdapter?.channel;
    if (inner && typeof inner.onMessage === 'function') {
      const transform = inner.onMessage.bind(inner);
      inner.onMessage = (event, payload, ref, joinRef) => {
        observe(event, payload);
        return transform(event, payload, ref, joinRef);
      };
    } else if (typeof modern._trigger === 'function') {
      const trigger = modern._trigger.bind(modern);
      modern._trigger = (type, payload, ref) => {
        observe(type, payload);
        trigger(type, payload, ref);
      };
    } else {
      throw new Error('resumable: this realtime-js version is not supported (no message hook found)');
    }
    if (last !== null) for (const b of bindings()) b.filter.since ??= last;
    const original = modern.on.bind(modern) as (...args: unknown[]) => unknown;
    // Bindings added after the wrap start from the last position too.
    (modern as unknown as { on: (...args: unknown[]) => unknown }).on = (...args: unknown[]) => {
      const result = original(...args);
      if (last !== null) for (const b of bindings()) b.filter.since ??= last;
      return result;
    };
    original('system', {}, onGap);
  } else if (record(target.params) && typeof target.trigger === 'function') {
    const legacy = target as LegacyChannel;
    if (last !== null) legacy.params.since = last;
    const trigger = legacy.trigger.bind(legacy);
    legacy.trigger = (event, payload, ref) => {
      const p = record(payload);
      if (isPosition(p?.position) && /^(INSERT|UPDATE|DELETE|TRUNCATE)$/.test(event)) {
        if (isAfter(p.position, last)) last = p.position;
        legacy.params.since = last;
      } else if (event === 'system' && p) {
        if (p.status === 'ok' && isPosition(p.position) && last === null) {
          last = p.position;
          legacy.params.since = last;
        } else onGap(p);
      }
      trigger(event, payload, ref);
    };
  } else {
    throw new Error('resumable: expected a realtime-js channel');
  }
  return Object.assign(channel, { position: () => last });
}
