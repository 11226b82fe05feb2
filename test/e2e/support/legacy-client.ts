/**
 * The published @supabase/realtime-js 1.7.5 client, used exactly as applications use it, with its
 * default transport (the `websocket` package). Records every change frame it hands to callbacks.
 */
import { RealtimeClient, type RealtimeSubscription } from '@supabase/realtime-js-v1';
import { waitFor } from '@walcast/test-utils';

export interface ReceivedChange {
  topic: string;
  event: string;
  payload: Record<string, unknown>;
}

export class LegacyClient {
  readonly client: RealtimeClient;
  readonly received: ReceivedChange[] = [];

  constructor(endpoint: string, params: Record<string, string> = {}) {
    this.client = new RealtimeClient(endpoint, { params });
    this.client.connect();
  }

  /** Subscribes with a `*` listener (and any named ones) and resolves once the join is ok. */
  subscribe(topic: string, events: string[] = ['*']): Promise<RealtimeSubscription> {
    const channel = this.client.channel(topic);
    for (const event of events) {
      channel.on(event, (payload: Record<string, unknown>) => this.received.push({ topic, event, payload }));
    }
    return new Promise((resolve, reject) => {
      channel
        .subscribe()
        .receive('ok', () => resolve(channel))
        .receive('error', (e: unknown) => reject(new Error(`join ${topic} failed: ${JSON.stringify(e)}`)))
        .receive('timeout', () => reject(new Error(`join ${topic} timed out`)));
    });
  }

  changes(topic: string, event = '*'): ReceivedChange[] {
    return this.received.filter((r) => r.topic === topic && r.event === event);
  }

  /** Waits until `count` changes arrived on `topic` for `event`. */
  waitForChanges(topic: string, count: number, event = '*', timeoutMs = 10_000): Promise<ReceivedChange[]> {
    return waitFor(
      () => {
        const got = this.changes(topic, event);
        return got.length >= count ? got : undefined;
      },
      { timeoutMs, message: `${count} ${event} changes on ${topic}` },
    );
  }

  close(): void {
    void this.client.disconnect();
  }
}
