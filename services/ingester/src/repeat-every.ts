/**
 * Runs `task` at once, then `intervalMs` after each run has settled (runs never overlap), until the
 * returned function is called. The timers do not keep the process alive.
 */
export function repeatEvery(task: () => Promise<unknown>, intervalMs: number): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    void task().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs).unref();
    });
  };
  timer = setTimeout(tick, 0).unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
