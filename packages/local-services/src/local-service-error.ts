/** Stable codes for {@link LocalServiceError}; branch on these, never on the message. */
export type LocalServiceErrorCode = 'BinaryNotFound' | 'StartFailed' | 'StopFailed';

/**
 * A local PostgreSQL or Redis server could not be found, started or stopped.
 *
 * The message always says what to do about it (which package to install, which env var to set), and
 * for `StartFailed` it ends with the last lines of the server's log.
 */
export class LocalServiceError extends Error {
  constructor(
    readonly code: LocalServiceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalServiceError';
  }
}
