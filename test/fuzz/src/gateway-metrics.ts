/**
 * Readings of the fuzzed gateway, from its own `/metrics`: the event-loop delay is measured inside
 * the gateway process (prom-client's `monitorEventLoopDelay` histogram, 10 ms resolution, reset at
 * every scrape, so `nodejs_eventloop_lag_max_seconds` is the longest delay since the previous
 * scrape), its resident memory, and the gauges that must return to their resting values once the
 * fuzz sockets are gone.
 */

export interface GatewayReading {
  /** Longest event-loop delay since the previous scrape, in ms. */
  loopDelayMaxMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  connections: number;
  channels: number;
  busSubscriptions: number;
}

const NAMES = {
  loop: 'nodejs_eventloop_lag_max_seconds',
  rss: 'process_resident_memory_bytes',
  heap: 'nodejs_heap_size_used_bytes',
  connections: 'walcast_gateway_connections',
  channels: 'walcast_gateway_channels',
  busSubscriptions: 'walcast_gateway_bus_subscriptions',
};

/** Unlabelled samples of a Prometheus text exposition, by name. */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/**
 * Scrapes `/metrics`. A gateway whose event loop is blocked answers only once it is free again, so
 * a timeout here is itself a stall of at least `timeoutMs`.
 */
export async function readGateway(port: number, timeoutMs: number): Promise<GatewayReading> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const samples = parseSamples(await res.text());
  const get = (name: string): number => {
    const value = samples.get(name);
    if (value === undefined) throw new Error(`/metrics has no ${name}`);
    return value;
  };
  return {
    loopDelayMaxMs: get(NAMES.loop) * 1000,
    rssBytes: get(NAMES.rss),
    heapUsedBytes: get(NAMES.heap),
    connections: get(NAMES.connections),
    channels: get(NAMES.channels),
    busSubscriptions: get(NAMES.busSubscriptions),
  };
}
