/**
 * What a compiled `like`/`ilike`/`match`/`imatch` filter value is: a test on the text of a column
 * value, run for every change on the gateway's only thread. Every implementation costs at worst
 * linear time in the value for a given pattern (docs/protocol.md lists each bound), so no client
 * pattern can stall the gateway.
 */

export interface TextPattern {
  /** Whether the whole value (`like`) or some part of it (`match`) matches. */
  test(text: string): boolean;
}

/** Longest `like`/`ilike`/`match`/`imatch` pattern accepted, in UTF-16 units. */
export const MAX_PATTERN_LENGTH = 512;

/** A pattern refused at join; `message` is the detail clients see. */
export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}
