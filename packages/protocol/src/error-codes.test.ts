import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeInvitesReconnect, ErrorCodes, errorReason, type ClientErrorEntry } from './error-codes';
import { IngesterErrorCodes, LogCodes, TokenRefusalReasons, type LogCodeEntry } from './log-codes';

const clientEntries = Object.entries(ErrorCodes) as Array<[string, ClientErrorEntry]>;
const root = join(__dirname, '../../..');

describe('errorReason', () => {
  it('formats "<Code>: <message>"', () => {
    expect(errorReason('InvalidFilter', 'unknown operator')).toBe('InvalidFilter: unknown operator');
  });
});

describe('closeInvitesReconnect', () => {
  it('invites a reconnect for 4000-4499 and the websocket codes, not for 4500-4999', () => {
    expect([1001, 1006, 4000, 4499].map(closeInvitesReconnect)).toEqual([true, true, true, true]);
    expect([4500, 4999].map(closeInvitesReconnect)).toEqual([false, false]);
  });
});

describe('ErrorCodes', () => {
  it('gives every close code to one entry only', () => {
    const closes = clientEntries.map(([, e]) => e.close).filter((c): c is number => c !== null);
    expect(closes.length).toBeGreaterThan(0);
    expect(new Set(closes).size).toBe(closes.length);
  });

  it.each(clientEntries.filter(([, e]) => e.close !== null))(
    '%s is a 4000-4999 close code whose retry follows closeInvitesReconnect',
    (_code, e) => {
      expect(e.close).toBeGreaterThanOrEqual(4000);
      expect(e.close).toBeLessThanOrEqual(4999);
      expect(e.retry).toBe(closeInvitesReconnect(e.close!));
    },
  );
});

describe('every catalogue', () => {
  const all: Array<[string, LogCodeEntry]> = [
    ...clientEntries,
    ...Object.entries(IngesterErrorCodes),
    ...Object.entries(LogCodes),
    ...Object.entries(TokenRefusalReasons),
  ];

  it('names each code once across the audiences', () => {
    const codes = all.map(([code]) => code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it.each(all)('%s is documented and emitted where the catalogue says', (code, e) => {
    expect(e.doc.trim().length).toBeGreaterThan(0);
    expect(e.where.length).toBeGreaterThan(0);
    // As a literal, or read from the catalogue (`ErrorCodes.SlowConsumer.close`).
    const use = new RegExp(`'${code}'|Codes\\.${code}\\b`);
    for (const file of e.where) expect(readFileSync(join(root, file), 'utf8')).toMatch(use);
  });
});
