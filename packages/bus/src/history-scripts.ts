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
 * Appends a batch of changes to their histories, packed (history-packs.ts), and publishes them, in
 * order.
 *
 * KEYS: the history streams of the batch, each once, then HISTORY_START_KEY.
 * ARGV: the batch's first and last positions, the number of packs, then per pack: the index in KEYS
 * of its stream, its topic, its entry id (its last change's stream id) and the stream id below which
 * its stream may be trimmed (`MINID ~`; '' not to trim); then per change: the index of its pack, its
 * stream id and its message. A pack holds at most 1000 changes (history-batch.ts): 2000 fields, well
 * within what Lua's unpack takes.
 *
 * A pack whose id is not above its stream's last one holds changes published again after an
 * ingester restart: it is not added twice, but its changes are still published (gateways drop what
 * they already delivered, and the publisher's sequence numbers stay gap-free); a pack that repeats
 * only some changes is added, and readers skip the repeated ones. Nobody sees a stream during the
 * script, so the packs are added after the publishes. The history start is set by the first batch a
 * Redis ever receives; the batch's last position is announced on POSITION_CHANNEL.
 */
export const APPEND_SCRIPT = `
local packs = tonumber(ARGV[3])
local fields = {}
for p = 1, packs do fields[p] = {} end
for i = 4 + packs * 4, #ARGV, 3 do
  local p = tonumber(ARGV[i])
  local f = fields[p]
  f[#f + 1] = ARGV[i + 1]
  f[#f + 1] = ARGV[i + 2]
  redis.call('PUBLISH', ARGV[p * 4 + 1], ARGV[i + 2])
end
for p = 1, packs do
  local at = p * 4
  local key = KEYS[tonumber(ARGV[at])]
  if ARGV[at + 3] == '' then
    redis.pcall('XADD', key, ARGV[at + 2], unpack(fields[p]))
  else
    redis.pcall('XADD', key, 'MINID', '~', ARGV[at + 3], ARGV[at + 2], unpack(fields[p]))
  end
end
redis.call('SET', KEYS[#KEYS], ARGV[1], 'NX')
redis.call('PUBLISH', '${POSITION_CHANNEL}', ARGV[2])
return packs
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
