/**
 * Restoring subscriptions after a reconnect in bounded batches: Redis answers a SUBSCRIBE with one
 * reply per name, so re-sending thousands at once can push the connection over Redis's output-buffer
 * limit for pub/sub clients, and Redis then drops it again.
 */

/** Most names one SUBSCRIBE or PSUBSCRIBE carries when subscriptions are restored. */
export const RESUBSCRIBE_BATCH = 500;
/** Most bytes of names one restoring SUBSCRIBE or PSUBSCRIBE carries. */
export const RESUBSCRIBE_BATCH_BYTES = 64 * 1024;

/** `names` in batches of at most RESUBSCRIBE_BATCH names and RESUBSCRIBE_BATCH_BYTES bytes. */
export function resubscribeBatches(names: readonly string[]): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const name of names) {
    const size = Buffer.byteLength(name, 'utf8');
    if (batch.length > 0 && (batch.length >= RESUBSCRIBE_BATCH || bytes + size > RESUBSCRIBE_BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(name);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
