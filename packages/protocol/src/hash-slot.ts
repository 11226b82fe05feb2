/**
 * Redis Cluster hash slots: which of the 16,384 slots a key or a shard channel belongs to, and a
 * short hash tag for each slot, so that a key can be placed on the slot of another name (a slot's
 * history start next to its streams, a gateway's bookkeeping next to a channel's presence).
 * Imports nothing.
 *
 * The slot of a name is CRC16 (XMODEM) of its hash tag, modulo 16,384; the hash tag is what is
 * between the first `{` and the next `}` when that is not empty, else the whole name (Redis's
 * cluster specification).
 */

export const HASH_SLOTS = 16_384;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16Bytes(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

const encoder = new TextEncoder();

/** CRC16 of the UTF-8 bytes of `text`, without encoding it when it is ASCII (nearly always). */
function crc16(text: string): number {
  let crc = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return crc16Bytes(encoder.encode(text));
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ c) & 0xff]!;
  }
  return crc;
}

/** The hash slot of a key or shard channel name. */
export function hashSlot(name: string): number {
  // Braces are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte character: searching the
  // string finds the same tag as searching its bytes.
  const open = name.indexOf('{');
  if (open >= 0) {
    const close = name.indexOf('}', open + 1);
    if (close > open + 1) return crc16(name.slice(open + 1, close)) % HASH_SLOTS;
  }
  return crc16(name) % HASH_SLOTS;
}

let tags: string[] | null = null;

/**
 * A short hash tag (letters and digits) whose slot is `slot`: `{<tag>}` in a name puts it on that
 * slot. The same for every process and version (the smallest base-36 number landing there).
 */
export function slotTag(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= HASH_SLOTS) throw new RangeError(`no hash slot ${slot}`);
  tags ??= buildTags();
  return tags[slot]!;
}

function buildTags(): string[] {
  const found: string[] = new Array<string>(HASH_SLOTS);
  let missing = HASH_SLOTS;
  for (let n = 0; missing > 0; n++) {
    const tag = n.toString(36);
    const slot = hashSlot(tag);
    if (found[slot] === undefined) {
      found[slot] = tag;
      missing--;
    }
  }
  return found;
}
