/** A WAL position. PostgreSQL prints it as two hex halves: `16/B374D848`. */
export type Lsn = bigint;

/** Parses `16/B374D848` (also the zero-padded `00000016/B374D848`); throws on anything else. */
export function lsnFromText(text: string): Lsn {
  const slash = text.indexOf('/');
  const hi = text.slice(0, slash);
  const lo = text.slice(slash + 1);
  if (slash <= 0 || !/^[0-9A-Fa-f]{1,8}$/.test(hi) || !/^[0-9A-Fa-f]{1,8}$/.test(lo)) {
    throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  }
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** The form PostgreSQL prints: upper-case hex halves without padding. */
export function lsnToText(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
