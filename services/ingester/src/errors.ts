/**
 * The ingester's errors. Each code is a dependency failure (docs/errors.md): the ingester reports
 * itself not ready, logs once per state change, and retries with jittered backoff. The message
 * always says what to do. The codes and their meaning are in @walcast/protocol's IngesterErrorCodes.
 */
import type { IngesterErrorCode } from '@walcast/protocol';

export type { IngesterErrorCode };

export class IngesterError extends Error {
  constructor(
    readonly code: IngesterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IngesterError';
  }
}

/** The stable code of any error met while streaming: ours, or a driver error folded into one. */
export function errorCode(err: unknown): IngesterErrorCode {
  return err instanceof IngesterError ? err.code : 'ReplicationFailed';
}
