/**
 * The Lua scripts of the change history (Redis Streams, one per table topic; see history-reader.ts
 * for the reading side): trimming and what a reader asks of a stream. Writing a batch on a single
 * Redis is a MULTI/EXEC transaction (history-batch.ts), on a Redis Cluster a script per hash slot
 * (cluster-scripts.ts).
 */
import { historyKeyFor } from '@walcast/protocol';

/** A history key is `${KEY_PREFIX}${topic}${KEY_SUFFIX}`. */
const [KEY_PREFIX, KEY_SUFFIX] = historyKeyFor('\u0000').split('\u0000') as [string, string];

/**
 * Drops, from every history listed in KEYS[1] (the set of topics), the entries before the stream
 * id ARGV[1] (approximately: whole nodes), and returns how many streams it looked at. Streams stay
 * when empty: their counters tell later readers what was dropped.
 */
export const TRIM_SCRIPT = `
local topics = redis.call('SMEMBERS', KEYS[1])
for _, topic in ipairs(topics) do
  redis.call('XTRIM', '${KEY_PREFIX}' .. topic .. '${KEY_SUFFIX}', 'MINID', '~', ARGV[1])
end
return #topics
`;

/**
 * What a reader needs to know whether a stream still holds everything after a position: returns
 * { exists (0/1), length (entries), entries ever added, the stream id of the oldest change held (the
 * first field of the first pack, or the id of an entry written before packing) or '', last id ever
 * added, the history start or '' }. KEYS: the stream, HISTORY_START_KEY.
 */
export const INFO_SCRIPT = `
local start = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, '', '', start} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local fields = {}
for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
local first = ''
if fields['length'] > 0 then
  local entry = fields['first-entry']
  first = entry[2][1]
  if first == 'm' then first = entry[1] end
end
return {1, fields['length'], fields['entries-added'], first, fields['last-generated-id'], start}
`;
