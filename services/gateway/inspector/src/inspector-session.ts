/**
 * One joined channel, through the published supabase-js, as an application would use it: a client
 * for this gateway's origin, `supabase.channel(name, { config })`, one `postgres_changes` listener
 * per binding, broadcast (every event) and presence listeners, `system` messages, and realtime-js's
 * own log of its websocket. Everything that arrives goes to the sink as an event-list entry.
 *
 * Lifecycle: `join(request)` → the statuses supabase-js reports → `leave()`. A new join leaves the
 * previous channel and starts a new client (the token may have changed). The token lives in this
 * object only; nothing is stored in the browser.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import type { ChannelRequest } from './channel-request';
import type { EventInput } from './event-log';
import {
  broadcastInput,
  changeInput,
  presenceInput,
  socketInput,
  statusInput,
  systemInput,
} from './event-inputs';

/** The channel's state as the page shows it. */
export type JoinState = 'idle' | 'joining' | 'SUBSCRIBED' | 'CHANNEL_ERROR' | 'TIMED_OUT' | 'CLOSED';

/** `presenceState()`: key → the metas tracked under it. */
export type PresenceMap = Record<string, Array<Record<string, unknown>>>;

export interface SessionSink {
  event(input: EventInput): void;
  state(state: JoinState, reason: string | null): void;
  presence(present: PresenceMap): void;
}

/**
 * supabase-js needs a key even when channels are open; the gateway ignores it then. It is sent as
 * the `apikey` of the websocket and the `access_token` of the join.
 */
export const NO_TOKEN_KEY = 'no-token';

type Json = Record<string, unknown>;

export class InspectorSession {
  private client: SupabaseClient | null = null;
  private channel: RealtimeChannel | null = null;
  /** Numbers the clients: each gets an auth storage key of its own (supabase-js warns otherwise). */
  private clients = 0;

  constructor(
    /** This gateway, e.g. `http://127.0.0.1:4000`: supabase-js connects to `<origin>/realtime/v1`. */
    private readonly origin: string,
    private readonly sink: SessionSink,
  ) {}

  get isJoined(): boolean {
    return this.channel !== null;
  }

  join(request: ChannelRequest): void {
    void this.detach();
    const client: SupabaseClient = createClient(this.origin, request.token ?? NO_TOKEN_KEY, {
      auth: {
        persistSession: false,
        autoRefreshToken: false,
        detectSessionInUrl: false,
        storageKey: `walcast-inspector-${++this.clients}`,
      },
      realtime: {
        logger: (kind: string, message: string, data?: unknown) => {
          // A client left behind may still log its last reconnect attempt: not this channel's.
          if (this.client !== client) return;
          const input = socketInput(kind, message, data);
          if (input) this.sink.event(input);
        },
      },
    });
    const channel = client.channel(request.name, { config: request.config });
    for (const binding of request.bindings) {
      channel.on('postgres_changes', binding, (payload) =>
        this.sink.event(changeInput(payload as unknown as Json)),
      );
    }
    if (request.listensToBroadcast) {
      channel.on('broadcast', { event: '*' }, (message) => this.sink.event(broadcastInput(message)));
    }
    if (request.listensToPresence) {
      channel
        .on('presence', { event: 'sync' }, () => this.sink.presence(channel.presenceState() as PresenceMap))
        .on('presence', { event: 'join' }, (p) =>
          this.sink.event(presenceInput('join', p as unknown as Json)),
        )
        .on('presence', { event: 'leave' }, (p) =>
          this.sink.event(presenceInput('leave', p as unknown as Json)),
        );
    }
    channel.on('system', {}, (payload: Json) => this.sink.event(systemInput(payload)));
    this.client = client;
    this.channel = channel;
    this.sink.state('joining', null);
    this.sink.presence({});
    channel.subscribe((status, err) => {
      if (this.channel !== channel) return; // a channel left since
      this.sink.event(statusInput(status, err));
      this.sink.state(status as JoinState, err?.message ?? null);
    });
  }

  /** Leaves the channel and closes the websocket. */
  async leave(): Promise<void> {
    const detached = this.detach();
    this.sink.state('idle', null);
    this.sink.presence({});
    await detached;
  }

  /** Forgets the current channel at once, then leaves it and closes its websocket. */
  private async detach(): Promise<void> {
    const { client, channel } = this;
    this.client = null;
    this.channel = null;
    if (!client) return;
    // A leave needs the socket; without one (refused, reconnecting) there is nothing to tell.
    if (channel && client.realtime.isConnected()) await client.removeChannel(channel);
    await client.realtime.disconnect();
  }

  /** `channel.send()`: `ok`, `timed out` or `error` (with ack), `ok` at once without. */
  async broadcast(event: string, payload: Json): Promise<string> {
    const channel = this.requireChannel();
    return channel.send({ type: 'broadcast', event, payload });
  }

  async track(payload: Json): Promise<string> {
    return this.requireChannel().track(payload);
  }

  async untrack(): Promise<string> {
    return this.requireChannel().untrack();
  }

  private requireChannel(): RealtimeChannel {
    if (!this.channel) throw new Error('join a channel first');
    return this.channel;
  }
}
