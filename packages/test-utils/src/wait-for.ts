/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long. Default 5000. */
  timeoutMs?: number;
  /** Pause between attempts. Default 25. */
  intervalMs?: number;
  /** Describes what was awaited; goes into the timeout error. */
  message?: string;
  /** Stops polling early; waitFor then rejects with the abort reason. */
  signal?: AbortSignal;
}

/** A falsy "not yet" result of a {@link waitFor} condition. */
type NotYet = undefined | null | false;

/**
 * Calls `fn` until it returns (or resolves to) a truthy value, and resolves with that value.
 *
 * A thrown error or rejection counts as "not yet" and polling continues. On timeout it rejects
 * with an Error whose message contains `message` and the last error `fn` threw (also kept as
 * `cause`), so a failing test says what it waited for and why it never came. `fn` is always called
 * at least once, and never concurrently with itself.
 */
export async function waitFor<T>(
  fn: () => T | NotYet | Promise<T | NotYet>,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let hasThrown = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      lastError = err;
      hasThrown = true;
    }
    if (Date.now() + intervalMs > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const what = opts.message ?? 'condition';
  const last = hasThrown
    ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
    : '';
  throw new Error(
    `waitFor timed out after ${timeoutMs} ms: ${what}${last}`,
    hasThrown ? { cause: lastError } : {},
  );
}
