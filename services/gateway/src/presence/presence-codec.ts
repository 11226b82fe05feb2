/**
 * How a presence entry is stored in Redis and how diffs are written. Pure functions; the Lua scripts
 * (presence-scripts.ts) rely on the stored form exactly as {@link encodePresenceValue} writes it:
 * `{"key":<key JSON>,"meta":<meta JSON>}`, key first, so a script can cut it without a JSON parser.
 */

/** The parts of an entry these functions read (PresenceEntry has this shape). */
export interface PresenceEntryLike {
  key: string;
  meta: { phx_ref: string };
}

/** The stored form of one entry. Throws (a caller bug) when the meta cannot be JSON-serialised. */
export function encodePresenceValue(entry: PresenceEntryLike): string {
  return `{"key":${JSON.stringify(entry.key)},"meta":${JSON.stringify(entry.meta)}}`;
}

/**
 * Parses a stored value; null when it is not an entry (wrong JSON, no string key, a meta that is not
 * an object with a string phx_ref). Values come from Redis, a trust boundary: another version, or
 * a hand edit, may have written them.
 */
export function decodePresenceValue<E extends PresenceEntryLike>(text: string): E | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // not JSON: the caller counts and skips it
  }
  if (typeof value !== 'object' || value === null) return null;
  const { key, meta } = value as { key?: unknown; meta?: unknown };
  if (typeof key !== 'string' || typeof meta !== 'object' || meta === null || Array.isArray(meta))
    return null;
  if (typeof (meta as { phx_ref?: unknown }).phx_ref !== 'string') return null;
  return value as E;
}

/** `{"<key>":{"metas":[…]},…}`, metas grouped by key in first-seen order. */
function groupJson(entries: readonly PresenceEntryLike[]): string {
  const byKey = new Map<string, string[]>();
  for (const e of entries) {
    const metas = byKey.get(e.key);
    const metaJson = JSON.stringify(e.meta);
    if (metas) metas.push(metaJson);
    else byKey.set(e.key, [metaJson]);
  }
  const parts: string[] = [];
  for (const [key, metas] of byKey) parts.push(`${JSON.stringify(key)}:{"metas":[${metas.join(',')}]}`);
  return `{${parts.join(',')}}`;
}

/** The payload of a `presence_diff`: `{"joins":{…},"leaves":{…}}`. */
export function presenceDiffJson(
  joins: readonly PresenceEntryLike[],
  leaves: readonly PresenceEntryLike[],
): string {
  return `{"joins":${groupJson(joins)},"leaves":${groupJson(leaves)}}`;
}
