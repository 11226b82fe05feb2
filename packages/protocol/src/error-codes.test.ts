import { ErrorCodes, errorReason, type ErrorCode } from './error-codes';

const entries = Object.entries(ErrorCodes) as Array<[ErrorCode, (typeof ErrorCodes)[ErrorCode]]>;

describe('errorReason', () => {
  it('formats "<Code>: <message>"', () => {
    expect(errorReason('InvalidFilter', 'unknown operator')).toBe('InvalidFilter: unknown operator');
    expect(errorReason('UnmatchedTopic', 'unmatched topic')).toBe('UnmatchedTopic: unmatched topic');
  });
});

describe('ErrorCodes', () => {
  it('gives every close code to one entry only', () => {
    const closes = entries.map(([, e]) => e.close).filter((c): c is NonNullable<typeof c> => c !== null);
    expect(closes.length).toBeGreaterThan(0);
    expect(new Set(closes).size).toBe(closes.length);
  });

  it.each(entries.filter(([, e]) => e.close !== null))(
    '%s uses 4000-4499 when it invites a retry and 4500-4999 otherwise',
    (_code, e) => {
      const close = e.close as number;
      if (e.retry) {
        expect(close).toBeGreaterThanOrEqual(4000);
        expect(close).toBeLessThanOrEqual(4499);
      } else {
        expect(close).toBeGreaterThanOrEqual(4500);
        expect(close).toBeLessThanOrEqual(4999);
      }
    },
  );

  it.each(entries)('%s is documented', (_code, e) => {
    expect(e.doc.trim().length).toBeGreaterThan(0);
  });
});
