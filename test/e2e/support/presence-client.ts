/**
 * Presence through the published @supabase/supabase-js 2.x, as applications use it: a channel with
 * `sync`, `join` and `leave` listeners, every callback recorded, and every websocket frame of its
 * client recorded too (so tests can read the raw `presence_state` and `presence_diff` payloads that
 * realtime-js reshapes: `phx_ref` becomes `presence_ref`, `phx_ref_prev` is dropped).
 *
 * Ordering: a topic's presence diffs and broadcasts travel on one Redis channel, in the order their
 * state changes happened, and one socket's frames arrive in order. So once a later diff or message
 * has arrived, an earlier one that did not arrive never will; tests use that instead of sleeping.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import {
  REALTIME_SUBSCRIBE_STATES,
  type RealtimeChannel,
  type RealtimeSystemPayload,
} from '@supabase/realtime-js';
import { waitFor } from '@walcast/test-utils';
import { recordingTransport, type WireFrame } from './broadcast-client';
import { disconnect } from './modern-client';

/** One presence as realtime-js hands it out: the tracked fields plus `presence_ref`. */
export type Presence = { presence_ref: string } & Record<string, unknown>;

/** What a presence listener got, in arrival order. */
export type PresenceEvent =
  | { event: 'sync' }
  | { event: 'join'; key: string; currentPresences: Presence[]; newPresences: Presence[] }
  | { event: 'leave'; key: string; currentPresences: Presence[]; leftPresences: Presence[] };

/** A raw meta as the server sent it. */
export interface WireMeta {
  phx_ref: string;
  phx_ref_prev?: string;
  [field: string]: unknown;
}

export type WirePresences = Record<string, { metas: WireMeta[] }>;

export interface WireDiff {
  joins: WirePresences;
  leaves: WirePresences;
}

export interface PresenceOptions {
  /** `config.presence.key`; realtime-js sends '' by default (the server then picks one). */
  key?: string;
  /** Listen to presence (realtime-js then joins with `presence.enabled`). Default true. */
  listen?: boolean;
  private?: boolean;
  /** An access token for private channels (set with `realtime.setAuth`). */
  token?: string;
  /** The apikey supabase-js sends (a JWT when the gateway verifies tokens). */
  apiKey?: string;
  /** `postgres_changes` bindings on the same channel (with a token, row authorization checks them at join). */
  postgresChanges?: Array<{ schema: string; table: string }>;
}

/** A supabase-js client with one channel on a gateway, and what it received. */
export class PresenceChannel {
  readonly events: PresenceEvent[] = [];
  readonly system: RealtimeSystemPayload[] = [];
  /** Events of the broadcasts received (every channel listens to them). */
  readonly broadcasts: string[] = [];
  readonly statuses: Array<{ status: REALTIME_SUBSCRIBE_STATES; err?: Error }> = [];
  readonly frames: WireFrame[] = [];
  readonly supabase: SupabaseClient;
  private channelValue: RealtimeChannel | null = null;

  constructor(
    port: number,
    readonly name: string,
    private readonly opts: PresenceOptions = {},
  ) {
    this.supabase = createClient(`http://127.0.0.1:${port}`, opts.apiKey ?? 'any-key', {
      realtime: { transport: recordingTransport(this.frames), timeout: 5_000 },
    });
  }

  get channel(): RealtimeChannel {
    if (!this.channelValue) throw new Error(`${this.name}: not subscribed yet`);
    return this.channelValue;
  }

  /** The Phoenix topic, `realtime:<name>`. */
  get topic(): string {
    return `realtime:${this.name}`;
  }

  /** Creates the channel with its listeners and subscribes it (without waiting). */
  async subscribe(): Promise<this> {
    if (this.opts.token) await this.supabase.realtime.setAuth(this.opts.token);
    const channel = this.supabase.channel(this.name, {
      config: { presence: { key: this.opts.key ?? '' }, private: this.opts.private ?? false },
    });
    if (this.opts.listen ?? true) {
      channel
        .on('presence', { event: 'sync' }, () => this.events.push({ event: 'sync' }))
        .on('presence', { event: 'join' }, (p) => this.events.push(p as PresenceEvent))
        .on('presence', { event: 'leave' }, (p) => this.events.push(p as PresenceEvent));
    }
    for (const binding of this.opts.postgresChanges ?? []) {
      channel.on('postgres_changes', { event: '*', ...binding }, () => undefined);
    }
    channel.on('system', {}, (p: RealtimeSystemPayload) => this.system.push(p));
    channel.on('broadcast', { event: '*' }, (m: { event: string }) => this.broadcasts.push(m.event));
    channel.subscribe((status, err) => this.statuses.push(err ? { status, err } : { status }));
    this.channelValue = channel;
    return this;
  }

  /** Subscribes and resolves once SUBSCRIBED; rejects at once on any other status. */
  async ready(timeoutMs = 10_000): Promise<this> {
    if (!this.channelValue) await this.subscribe();
    await waitFor(
      () => {
        const failed = this.statuses.find((s) => s.status !== REALTIME_SUBSCRIBE_STATES.SUBSCRIBED);
        if (failed) throw new Error(`${this.name}: ${failed.status} ${failed.err?.message ?? ''}`);
        return this.statuses.length > 0;
      },
      { timeoutMs, message: `SUBSCRIBED on ${this.name}` },
    );
    return this;
  }

  /** Subscribes and resolves once the first `sync` (the presence_state after the join) arrived. */
  async synced(timeoutMs = 10_000): Promise<this> {
    await this.ready(timeoutMs);
    await this.waitForEvent((e) => e.event === 'sync', 'the first sync', timeoutMs);
    return this;
  }

  track(payload: Record<string, unknown>): Promise<string> {
    return this.channel.track(payload);
  }

  untrack(): Promise<string> {
    return this.channel.untrack();
  }

  /** `presenceState()`: key → presences. */
  state(): Record<string, Presence[]> {
    return this.channel.presenceState() as Record<string, Presence[]>;
  }

  /** Key → the tracked field `field` of each of its presences (sorted): the state without refs. */
  summary(field = 'u'): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {};
    for (const [key, presences] of Object.entries(this.state())) {
      out[key] = presences.map((p) => p[field]).sort();
    }
    return out;
  }

  /** Waits for a presence event matching `predicate` (past or future) and resolves with it. */
  waitForEvent<E extends PresenceEvent>(
    predicate: (e: PresenceEvent) => e is E,
    what: string,
    timeoutMs?: number,
  ): Promise<E>;
  waitForEvent(
    predicate: (e: PresenceEvent) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<PresenceEvent>;
  waitForEvent(
    predicate: (e: PresenceEvent) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<PresenceEvent> {
    return waitFor(() => this.events.find(predicate), {
      timeoutMs,
      message: `${what} on ${this.name}; got ${JSON.stringify(this.events)}`,
    });
  }

  /** Waits for a `join` of `key` whose new presences include one with `u === u`. */
  waitForJoin(key: string, u: unknown, timeoutMs?: number): Promise<PresenceEvent> {
    return this.waitForEvent(
      (e) => e.event === 'join' && e.key === key && e.newPresences.some((p) => p.u === u),
      `join of ${key} (u=${String(u)})`,
      timeoutMs,
    );
  }

  /** Waits for a `leave` of `key` whose left presences include one with `u === u`. */
  waitForLeave(key: string, u: unknown, timeoutMs?: number): Promise<PresenceEvent> {
    return this.waitForEvent(
      (e) => e.event === 'leave' && e.key === key && e.leftPresences.some((p) => p.u === u),
      `leave of ${key} (u=${String(u)})`,
      timeoutMs,
    );
  }

  /** Waits until `summary(field)` deep-equals `expected` (key order aside). */
  waitForSummary(expected: Record<string, unknown[]>, timeoutMs = 10_000, field = 'u'): Promise<true> {
    const wanted = JSON.stringify(sortKeys(expected));
    return waitFor(() => JSON.stringify(sortKeys(this.summary(field))) === wanted, {
      timeoutMs,
      message: `presence state ${wanted} on ${this.name}; got ${JSON.stringify(this.summary(field))}`,
    });
  }

  /** Payloads of the received text frames of this channel's topic with `event`, in arrival order. */
  received<T = unknown>(event: string): T[] {
    const out: T[] = [];
    for (const f of this.frames) {
      if (f.dir !== 'in' || f.binary) continue;
      const msg: unknown = JSON.parse(f.bytes.toString('utf8'));
      const [, , topic, ev, payload] = Array.isArray(msg)
        ? (msg as unknown[])
        : [
            null,
            null,
            (msg as { topic: unknown }).topic,
            (msg as { event: unknown }).event,
            (msg as { payload: unknown }).payload,
          ];
      if (topic === this.topic && ev === event) out.push(payload as T);
    }
    return out;
  }

  diffs(): WireDiff[] {
    return this.received<WireDiff>('presence_diff');
  }

  states(): WirePresences[] {
    return this.received<WirePresences>('presence_state');
  }

  /** Waits for a `system` payload matching `predicate`. */
  waitForSystem(
    predicate: (p: RealtimeSystemPayload) => boolean,
    timeoutMs = 10_000,
  ): Promise<RealtimeSystemPayload> {
    return waitFor(() => this.system.find(predicate), {
      timeoutMs,
      message: `system message on ${this.name}; got ${JSON.stringify(this.system)}`,
    });
  }

  /** Waits for a subscribe status (CHANNEL_ERROR, CLOSED…), whatever came before it. */
  waitForStatus(
    status: REALTIME_SUBSCRIBE_STATES,
    timeoutMs = 10_000,
  ): Promise<{ status: REALTIME_SUBSCRIBE_STATES; err?: Error }> {
    return waitFor(() => this.statuses.find((s) => s.status === status), {
      timeoutMs,
      message: `${status} on ${this.name}; got ${JSON.stringify(this.statuses)}`,
    });
  }

  /**
   * Closes the client's socket (not just the channel); resolves once it is closed. Its channels are
   * torn down too: a refused join keeps a rejoin timer armed, which would keep jest alive.
   */
  async close(): Promise<void> {
    await disconnect(this.supabase.realtime);
    for (const channel of this.supabase.realtime.getChannels()) channel.teardown();
  }
}

function sortKeys(value: Record<string, unknown[]>): Array<[string, unknown[]]> {
  return Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
