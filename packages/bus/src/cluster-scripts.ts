/**
 * The Lua script the ingester runs on a Redis Cluster: one call per hash slot per batch publishes
 * that slot's messages on their shard channels (SPUBLISH) and, for changes of table topics, writes
 * them into their history streams (packed, history-packs.ts), in one atomic step (as APPEND_SCRIPT does on a single
 * Redis; history-scripts.ts). A script may only touch keys and shard channels of one slot, so what a
 * single Redis keeps once, a cluster keeps per slot: the history start, the topic index and the
 * position channel (topics.ts, Redis Cluster forms).
 *
 * KEYS: the slot's history start, the slot's topic index, then the history streams of the batch.
 * ARGV: the slot's position channel, the batch's first and last history positions, '1' to overwrite
 * the start (the slot's master changed: what the old one held may be lost) or '0', the number of
 * packs (history-packs.ts), then per pack: the index in KEYS of its stream, its topic, its entry id
 * and the stream id below which its stream may be trimmed ('' not to trim); then per message: its
 * channel, the index of its pack (0: no history), its stream id and the message.
 *
 * As on a single Redis, a pack whose id is not above its stream's last one (changes published
 * again after an ingester restart) is not added twice but its changes are still published. The
 * start is set by the first batch that writes history to the slot (or overwritten, see above); each
 * batch that wrote history announces its last position on the slot's position channel.
 */
import { historyKeyFor } from '@walcast/protocol';

/** A history key is `${HISTORY_KEY_PREFIX}${topic}${HISTORY_KEY_SUFFIX}`. */
const [HISTORY_KEY_PREFIX, HISTORY_KEY_SUFFIX] = historyKeyFor('\u0000').split('\u0000') as [string, string];

export const CLUSTER_BATCH_SCRIPT = `
local packs = tonumber(ARGV[5])
local fields = {}
for p = 1, packs do fields[p] = {} end
for i = 6 + packs * 4, #ARGV, 4 do
  local p = tonumber(ARGV[i + 1])
  if p > 0 then
    local f = fields[p]
    f[#f + 1] = ARGV[i + 2]
    f[#f + 1] = ARGV[i + 3]
  end
  redis.call('SPUBLISH', ARGV[i], ARGV[i + 3])
end
local indexed = {}
for p = 1, packs do
  local at = 2 + p * 4
  local key = KEYS[tonumber(ARGV[at])]
  if ARGV[at + 3] == '' then
    redis.pcall('XADD', key, ARGV[at + 2], unpack(fields[p]))
  else
    redis.pcall('XADD', key, 'MINID', '~', ARGV[at + 3], ARGV[at + 2], unpack(fields[p]))
  end
  if not indexed[key] then
    redis.call('SADD', KEYS[2], ARGV[at + 1])
    indexed[key] = true
  end
end
if packs > 0 then
  if ARGV[4] == '1' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'NX') end
  redis.call('SPUBLISH', ARGV[1], ARGV[3])
end
return 0
`;

/*
 * Scripts run once per master over the per-slot keys of every slot it serves (cluster-slots.ts):
 * one command per master instead of one per slot. `allow-cross-slot-keys` lets a script touch keys
 * of several slots of its own node; the keys come in ARGV, and a key of a slot that moved meanwhile
 * makes the script fail as a whole (the caller retries or gives up, never takes half an answer).
 */

/** ARGV: set keys. Returns every member of every set. */
export const READ_SETS_SCRIPT = `#!lua flags=allow-cross-slot-keys,no-writes
local out = {}
for i = 1, #ARGV do
  for _, m in ipairs(redis.call('SMEMBERS', ARGV[i])) do out[#out + 1] = m end
end
return out
`;

/** ARGV: the value, 'NX' (only where missing) or 'XX' (overwrite), then the keys. Returns how many. */
export const SET_ALL_SCRIPT = `#!lua flags=allow-cross-slot-keys
for i = 3, #ARGV do
  if ARGV[2] == 'NX' then redis.call('SET', ARGV[i], ARGV[1], 'NX') else redis.call('SET', ARGV[i], ARGV[1]) end
end
return #ARGV - 2
`;

/**
 * ARGV: a stream id, then the slots' topic indexes. Drops from the history of every indexed topic
 * the entries before that id (approximately: whole nodes). Returns how many streams it looked at.
 */
export const TRIM_INDEXED_SCRIPT = `#!lua flags=allow-cross-slot-keys
local n = 0
for i = 2, #ARGV do
  for _, topic in ipairs(redis.call('SMEMBERS', ARGV[i])) do
    redis.call('XTRIM', '${HISTORY_KEY_PREFIX}' .. topic .. '${HISTORY_KEY_SUFFIX}', 'MINID', '~', ARGV[1])
    n = n + 1
  end
end
return n
`;
