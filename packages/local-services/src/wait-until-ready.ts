import type { ManagedProcess } from './managed-process';

/**
 * Polls `probe` until it returns true, the process exits (noticed even while a probe is pending),
 * or `timeoutMs` passes. The poll interval
 * starts at 10 ms and doubles up to 100 ms, so a fast server is detected within a few milliseconds.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  let intervalMs = 10;
  while (Date.now() < deadline) {
    if (!proc.isRunning()) return 'exited';
    // race the probe with the exit: when another program holds the port, the probe may hang on it
    const isReady = await Promise.race([probe(), proc.exited.then(() => false)]);
    if (isReady) return proc.isRunning() ? 'ready' : 'exited';
    await new Promise((r) => setTimeout(r, intervalMs));
    intervalMs = Math.min(100, intervalMs * 2);
  }
  return 'timeout';
}
