// `import = require` (not `import * as`): the namespace wrapper of `import *` would be a per-file copy.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the shared module object is the point
import os = require('node:os');

// Jest gives every test file its own module registry, `process.env` and `globalThis`, but built-in
// modules are shared by the whole process. Keeping the probe on one of them makes "once per
// process" hold across test files instead of costing ~0.5 s in each.
const CACHE_KEY = Symbol.for('walcast.test-utils.containerRuntimeProbe');
type ProbeCache = { [CACHE_KEY]?: Promise<ProbeResult> };

/** Whether a container engine answered, and if not, why. */
export type ProbeResult = { isAvailable: true } | { isAvailable: false; error: unknown };

/**
 * Asks testcontainers for a working container runtime, once per process. Loads testcontainers
 * lazily, so nothing imports it when the local strategy is forced. Never rejects. About 0.5 s
 * when no engine exists (module load plus strategy probing), ~0 afterwards.
 */
export function probeContainerRuntime(): Promise<ProbeResult> {
  const cache = os as unknown as ProbeCache;
  cache[CACHE_KEY] ??= import('testcontainers')
    .then((tc) => tc.getContainerRuntimeClient())
    .then(
      (): ProbeResult => ({ isAvailable: true }),
      (error: unknown): ProbeResult => ({ isAvailable: false, error }),
    );
  return cache[CACHE_KEY];
}
