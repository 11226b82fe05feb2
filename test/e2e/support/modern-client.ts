/**
 * The published @supabase/realtime-js 2.x `RealtimeClient`, used as applications use it (with the
 * `ws` transport that Node 20 needs). Records what each channel hands its callbacks.
 *
 * Ordering barrier: the gateway dispatches changes in the order Redis delivers them on its single
 * subscriber connection, and one socket's frames arrive in order. So once a marker row inserted
 * after some changes has reached this socket, every frame those earlier changes produced for this
 * socket has arrived too; {@link ModernClient.barrier} uses that to assert that something was
 * *not* delivered without sleeping.
 */
import WebSocket from 'ws';
import {
  REALTIME_SUBSCRIBE_STATES,
  RealtimeClient,
  type RealtimeChannel,
  type RealtimePostgresChangesPayload,
  type RealtimeSystemPayload,
  type WebSocketLikeConstructor,
} from '@supabase/realtime-js';
import { sql, uniqueName, waitFor } from '@walcast/test-utils';

/**
 * `ws` as realtime-js's `transport` (Node 20 has no global WebSocket). The cast only bridges the
 * `ws` constructor's `address: null` overload, which realtime-js never uses.
 */
export const Transport = WebSocket as unknown as WebSocketLikeConstructor;

export type Row = Record<string, unknown>;
export type Change = RealtimePostgresChangesPayload<Row>;
export type Vsn = '1.0.0' | '2.0.0';

export interface PgBinding {
  event: '*' | 'INSERT' | 'UPDATE' | 'DELETE';
  schema: string;
  table?: string;
  filter?: string;
  select?: string[];
}

/** The table every barrier marker goes to (`id serial primary key, tag text`). */
export const MARKERS_TABLE = 'markers';

export const SUBSCRIBED_TO_POSTGRES = 'Subscribed to PostgreSQL';

/** One channel and everything it handed to callbacks. */
export class Listener {
  /** Per binding (in `on` order), the changes its callback got. */
  readonly received: Change[][];
  readonly system: RealtimeSystemPayload[] = [];
  readonly statuses: Array<{ status: REALTIME_SUBSCRIBE_STATES; err?: Error }> = [];

  constructor(
    readonly channel: RealtimeChannel,
    readonly bindings: readonly PgBinding[],
  ) {
    this.received = bindings.map(() => []);
  }

  /** The changes binding `index` got (all bindings' changes, in arrival order, without it). */
  changes(index?: number): Change[] {
    return index === undefined ? this.received.flat() : this.received[index]!;
  }

  /** `<schema>.<table>:<TYPE>:<id>` per change of binding `index`, markers left out. */
  summary(index = 0): string[] {
    return this.received[index]!.filter((c) => c.table !== MARKERS_TABLE).map(describeChange);
  }

  /** Waits until binding `index` has `count` changes (markers included). */
  waitForChanges(count: number, index = 0, timeoutMs = 10_000): Promise<Change[]> {
    return waitFor(
      () => {
        const got = this.received[index]!;
        return got.length >= count ? got : undefined;
      },
      { timeoutMs, message: `${count} changes on ${this.channel.topic} binding ${index}` },
    );
  }

  /** Waits for a `system` payload matching `predicate`. */
  waitForSystem(
    predicate: (p: RealtimeSystemPayload) => boolean,
    timeoutMs = 10_000,
  ): Promise<RealtimeSystemPayload> {
    return waitFor(() => this.system.find(predicate), {
      timeoutMs,
      message: `system message on ${this.channel.topic}; got ${JSON.stringify(this.system)}`,
    });
  }

  /** How many times the subscribe callback reported SUBSCRIBED. */
  get subscribedCount(): number {
    return this.statuses.filter((s) => s.status === REALTIME_SUBSCRIBE_STATES.SUBSCRIBED).length;
  }

  /**
   * Resolves once the channel is SUBSCRIBED and, when it has postgres_changes bindings, the
   * server said "Subscribed to PostgreSQL" (changes committed from then on are delivered).
   */
  async ready(timeoutMs = 10_000): Promise<this> {
    await waitFor(
      () => {
        const failed = this.statuses.find((s) => s.status !== REALTIME_SUBSCRIBE_STATES.SUBSCRIBED);
        if (failed) throw new Error(`${this.channel.topic}: ${failed.status} ${failed.err?.message ?? ''}`);
        return this.subscribedCount > 0;
      },
      { timeoutMs, message: `SUBSCRIBED on ${this.channel.topic}` },
    );
    if (this.bindings.length > 0) {
      await this.waitForSystem((p) => p.status === 'ok' && p.message === SUBSCRIBED_TO_POSTGRES, timeoutMs);
    }
    return this;
  }
}

export function describeChange(c: Change): string {
  const row = c.eventType === 'DELETE' ? c.old : c.new;
  return `${c.schema}.${c.table}:${c.eventType}:${String(row.id)}`;
}

export class ModernClient {
  readonly client: RealtimeClient;
  private barrierListener: Listener | null = null;

  constructor(
    endpoint: string,
    readonly vsn: Vsn,
    private readonly dbUrl: string,
  ) {
    this.client = new RealtimeClient(endpoint, {
      params: { apikey: 'any-key' },
      transport: Transport,
      vsn,
    });
    this.client.connect();
  }

  /** Creates channel `name` with these bindings and a `system` listener, and subscribes it. */
  listen(name: string, bindings: readonly PgBinding[], config: Record<string, unknown> = {}): Listener {
    const channel = this.client.channel(name, { config });
    const listener = new Listener(channel, bindings);
    bindings.forEach((binding, i) => {
      channel.on('postgres_changes', binding, (payload: Change) => listener.received[i]!.push(payload));
    });
    channel.on('system', {}, (payload: RealtimeSystemPayload) => listener.system.push(payload));
    channel.subscribe((status, err) => listener.statuses.push(err ? { status, err } : { status }));
    return listener;
  }

  /**
   * Inserts a marker row and waits until this socket got it: every change committed before has
   * then been delivered to this socket (see the file comment).
   */
  async barrier(timeoutMs = 10_000): Promise<void> {
    if (!this.barrierListener) {
      this.barrierListener = this.listen(uniqueName('barrier'), [
        { event: 'INSERT', schema: 'public', table: MARKERS_TABLE },
      ]);
    }
    const listener = await this.barrierListener.ready();
    const tag = uniqueName('marker');
    await sql(this.dbUrl, `insert into ${MARKERS_TABLE} (tag) values ('${tag}')`);
    await waitFor(() => listener.changes(0).some((c) => (c.new as Row).tag === tag), {
      timeoutMs,
      message: `barrier marker ${tag} on ${this.vsn} client`,
    });
  }

  close(): Promise<void> {
    return disconnect(this.client);
  }
}

/**
 * `client.disconnect()` without its guard timer: realtime-js 2.119.1 races the socket teardown
 * against a 10 s `setTimeout` it never clears, which keeps jest alive for 10 s after the last test.
 * This is the same teardown (`socketAdapter.disconnect`) with that guard set to 0 ms; resolves
 * once the socket is closed.
 */
export async function disconnect(client: RealtimeClient): Promise<void> {
  const internals = client as unknown as ClientInternals;
  // A channel closed by the server or unsubscribed arms a disconnect timer (by default 50 s) when it
  // was the client's last; it too would keep jest alive.
  internals._cancelPendingDisconnect();
  const adapter = internals.socketAdapter;
  let torndown = false;
  void adapter.disconnect(() => (torndown = true), undefined, undefined, 0);
  await waitFor(() => torndown, { timeoutMs: 3000, message: 'realtime-js socket torn down' });
}

interface ClientInternals {
  socketAdapter: SocketAdapterInternals;
  _cancelPendingDisconnect(): void;
}

interface SocketAdapterInternals {
  disconnect(callback: () => void, code?: number, reason?: string, timeout?: number): Promise<unknown>;
}
