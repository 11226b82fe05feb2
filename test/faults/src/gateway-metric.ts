/** Reading a running gateway's Prometheus metrics, to check what it did (e.g. catch up from the history). */

/**
 * The value of the first series of `http://127.0.0.1:<port>/metrics` whose line starts with
 * `series` (a name with its labels, e.g. `walcast_gateway_catch_ups_total{result="ok"}`); 0 when
 * the gateway has no such series yet (a counter never incremented is not printed).
 */
export async function gatewayMetric(port: number, series: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`/metrics of the gateway on port ${port} answered ${res.status}`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Subscriptions of a gateway that caught up from the history (`ok`) or could not (`gap`, `failed`). */
export function catchUps(port: number, result: 'ok' | 'gap' | 'failed'): Promise<number> {
  return gatewayMetric(port, `walcast_gateway_catch_ups_total{result="${result}"}`);
}
