type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let isHookInstalled = false;

/**
 * Registers a synchronous clean-up to run on `process.on('exit')`, and returns a function that
 * unregisters it. Clean-ups run in registration order; one that throws does not stop the others.
 *
 * This is the fast path for normal exits outside jest. It cannot run on SIGKILL, and inside a jest
 * test file `process` is a sandbox whose `exit` event never fires, so every server is also covered
 * by an {@link OrphanGuard}.
 */
export function onProcessExit(cleanup: Cleanup): () => void {
  if (!isHookInstalled) {
    isHookInstalled = true;
    process.on('exit', runAll);
  }
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function runAll(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // the process is exiting; one failed clean-up must not prevent the next one
    }
  }
  cleanups.clear();
}
