/**
 * The Lua scripts of the change history (Redis Streams, one per table topic; see history-reader.ts
 * for the reading side). Writing a batch is one script, so each change enters its table's history
 * and is published in one atomic step: a subscriber that missed the publish finds the change in the
 * history, and one that reads the history before the publish receives it afterwards.
 */
import { POSITION_CHANNEL, historyKeyFor } from '@walcast/protocol';

/** A history key is `${KEY_PREFIX}${topic}${KEY_SUFFIX}`. */
const [KEY_PREFIX, KEY_SUFFIX] = historyKeyFor('\u0000').split('\u0000') as [string, string];

/**
 * Appends a batch of changes to their histories and publishes them, in order.
 *
 * KEYS: the history stream of each change, in order, then HISTORY_START_KEY.
 * ARGV: the most entries a stream keeps (approximate trimming: whole nodes), the batch's first and
 * last positions, then per change its topic, stream entry id and message.
 *
 * An entry whose id is not above its stream's last one is a change published again after an
 * ingester restart: it is not added twice, but still published (gateways drop what they already
 * delivered, and the publisher's sequence numbers stay gap-free). Each stream written is trimmed
 * once, after the batch (one XTRIM per stream instead of MAXLEN on every XADD: fewer arguments
 * converted per change; nobody sees a stream during the script). The history start is set by the
 * first batch a Redis ever receives; the batch's last position is announced on POSITION_CHANNEL.
 */
export const APPEND_SCRIPT = `
local n = #KEYS - 1
local written = {}
local last = false
for i = 1, n do
  local base = 3 + (i - 1) * 3
  local key = KEYS[i]
  redis.pcall('XADD', key, ARGV[base + 2], 'm', ARGV[base + 3])
  redis.call('PUBLISH', ARGV[base + 1], ARGV[base + 3])
  if key ~= last then
    written[key] = true
    last = key
  end
end
for key in pairs(written) do redis.call('XTRIM', key, 'MAXLEN', '~', ARGV[1]) end
redis.call('SET', KEYS[n + 1], ARGV[2], 'NX')
redis.call('PUBLISH', '${POSITION_CHANNEL}', ARGV[3])
return n
`;

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
 * { exists (0/1), length, entries ever added, first entry id or '', last id ever added, the
 * history start or '' }. KEYS: the stream, HISTORY_START_KEY.
 */
export const INFO_SCRIPT = `
local start = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, '', '', start} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local fields = {}
for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
local first = ''
if fields['length'] > 0 then first = fields['first-entry'][1] end
return {1, fields['length'], fields['entries-added'], first, fields['last-generated-id'], start}
`;
