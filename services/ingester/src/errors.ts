/**
 * The ingester's internal error codes. Each is a dependency failure (style.md §8.5): the ingester
 * reports itself not ready, logs once per state change, and retries with jittered backoff. The
 * message always says what to do. docs/errors.md lists them.
 */
export const INGESTER_ERROR_CODES = [
  'WalLevelNotLogical',
  'PublicationMissing',
  'SlotInUse',
  'SlotInvalidated',
  'SlotWrongPlugin',
  'SlotWrongDatabase',
  'DatabaseUnavailable',
  'ReplicationFailed',
] as const;

export type IngesterErrorCode = (typeof INGESTER_ERROR_CODES)[number];

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
