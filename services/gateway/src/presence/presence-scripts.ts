/**
 * The presence store's Redis scripts. Each changes the state and publishes the matching diff in one
 * atomic step, so the order of diffs on a channel is the order of its state changes. Times come from
 * Redis's clock (`TIME`), so gateways whose clocks disagree still agree on which lease lapsed.
 *
 * Stored entries are `{"key":<key JSON>,"meta":<meta JSON>}` as written by presence-codec.ts; the
 * scripts group them into `{"joins":{…},"leaves":{…}}` by cutting each at its first `,"meta":` (a
 * JSON string escapes every `"`, so that sequence cannot occur inside the key) and never re-encode
 * a meta. Values of another form are dropped from diffs (and deleted with their field).
 *
 * Every per-channel script takes the same keys (presence-keyspace.ts): the channel's presence hash,
 * this gateway's phx_ref set there, the gateway's channel set and, on one Redis, the lease sorted
 * set. Diffs go out with PUBLISH on one Redis and SPUBLISH on a Redis Cluster (`{{PUBLISH}}` below).
 */
import type { Redis } from 'ioredis';
import { BROADCAST_MESSAGE_VERSION, encodeBroadcastMessage } from '@walcast/protocol';
import type { PresenceKeyspace } from './presence-keyspace';

const HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function group(values)
  local order, by_key = {}, {}
  for _, v in ipairs(values) do
    if string.sub(v, 1, 7) == '{"key":' and string.sub(v, -1) == '}' then
      local sep = string.find(v, ',"meta":', 8, true)
      if sep then
        local k = string.sub(v, 8, sep - 1)
        if not by_key[k] then
          by_key[k] = {}
          order[#order + 1] = k
        end
        local metas = by_key[k]
        metas[#metas + 1] = string.sub(v, sep + 8, -2)
      end
    end
  end
  local parts = {}
  for i, k in ipairs(order) do parts[i] = k .. ':{"metas":[' .. table.concat(by_key[k], ',') .. ']}' end
  return '{' .. table.concat(parts, ',') .. '}'
end
local function diff(joins, leaves)
  return '{"joins":' .. group(joins) .. ',"leaves":' .. group(leaves) .. '}'
end
-- Restores a missing lease (we were swept, or Redis lost it): 1 tells the caller to re-assert.
-- Without the lease key (a cluster: it lives in another slot) the next renewal notices instead.
local function ensure_lease(key, gateway, lease_ms)
  if key == nil or lease_ms == '0' or redis.call('ZSCORE', key, gateway) then return 0 end
  redis.call('ZADD', key, now_ms() + tonumber(lease_ms), gateway)
  return 1
end
`;

/**
 * track: ARGV field prefix, phx_ref, entry value, previous phx_ref or '', channel member, channel,
 * message, lease ms ('0': no lease yet), gateway id. Returns 1 when it had to restore our lease.
 */
export const TRACK_LUA = `${HELPERS}
local prefix, ref, prev = ARGV[1], ARGV[2], ARGV[4]
if prev ~= '' and prev ~= ref then
  redis.call('HDEL', KEYS[1], prefix .. prev)
  redis.call('SREM', KEYS[2], prev)
end
redis.call('HSET', KEYS[1], prefix .. ref, ARGV[3])
redis.call('SADD', KEYS[2], ref)
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('{{PUBLISH}}', ARGV[6], ARGV[7])
return ensure_lease(KEYS[4], ARGV[9], ARGV[8])
`;

/**
 * untrack: ARGV field prefix, phx_ref, channel member, channel, message, lease ms, gateway id.
 * Publishes only when the entry was there (a swept entry already had its leave). Returns as track.
 */
export const UNTRACK_LUA = `${HELPERS}
local removed = redis.call('HDEL', KEYS[1], ARGV[1] .. ARGV[2])
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
if removed == 1 then redis.call('{{PUBLISH}}', ARGV[4], ARGV[5]) end
return ensure_lease(KEYS[4], ARGV[7], ARGV[6])
`;

/**
 * assert: makes the gateway's entries in one channel exactly the given ones. ARGV field prefix,
 * channel member, channel, envelope prefix, then phx_ref/value pairs. Entries of ours not given
 * leave; given ones missing or different join (a join with a known phx_ref replaces it in clients).
 * Returns {joins, leaves}.
 */
export const ASSERT_LUA = `${HELPERS}
local prefix = ARGV[1]
local wanted = {}
for i = 5, #ARGV, 2 do wanted[ARGV[i]] = true end
local joins, leaves = {}, {}
for _, ref in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not wanted[ref] then
    local v = redis.call('HGET', KEYS[1], prefix .. ref)
    if v then
      leaves[#leaves + 1] = v
      redis.call('HDEL', KEYS[1], prefix .. ref)
    end
    redis.call('SREM', KEYS[2], ref)
  end
end
for i = 5, #ARGV, 2 do
  local field = prefix .. ARGV[i]
  if redis.call('HGET', KEYS[1], field) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
    joins[#joins + 1] = ARGV[i + 1]
  end
  redis.call('SADD', KEYS[2], ARGV[i])
end
if #ARGV >= 5 then redis.call('SADD', KEYS[3], ARGV[2]) else redis.call('SREM', KEYS[3], ARGV[2]) end
if #joins + #leaves > 0 then redis.call('{{PUBLISH}}', ARGV[3], ARGV[4] .. diff(joins, leaves)) end
return {#joins, #leaves}
`;

/**
 * sweep: removes every entry of a gateway from one channel and publishes their leaves. ARGV field
 * prefix, channel member, channel, envelope prefix, gateway id, '1' to sweep even with a live lease
 * (our own clean stop). Returns the number of leaves, or -1 when the gateway holds a lease again
 * (it came back and re-asserts its entries itself); without the lease key (a cluster) the sweeper
 * checks the lease itself between batches.
 */
export const SWEEP_LUA = `${HELPERS}
if ARGV[6] ~= '1' and KEYS[4] and redis.call('ZSCORE', KEYS[4], ARGV[5]) then return -1 end
local refs = redis.call('SMEMBERS', KEYS[2])
local leaves = {}
for i = 1, #refs, 500 do
  local fields = {}
  for j = i, math.min(i + 499, #refs) do fields[#fields + 1] = ARGV[1] .. refs[j] end
  for _, v in ipairs(redis.call('HMGET', KEYS[1], unpack(fields))) do
    if v then leaves[#leaves + 1] = v end
  end
  redis.call('HDEL', KEYS[1], unpack(fields))
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
if #leaves > 0 then redis.call('{{PUBLISH}}', ARGV[3], ARGV[4] .. diff({}, leaves)) end
return #leaves
`;

/** renew: KEYS leases; ARGV gateway id, lease ms. Returns 1 when the lease was missing (re-added). */
export const RENEW_LUA = `${HELPERS}
return redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
`;

/**
 * claim: KEYS leases, sweeps; ARGV claim ms, most gateways. Moves lapsed leases to the sweeps set,
 * and takes over sweeps whose sweeper lapsed (it died mid-sweep); returns the gateway ids this
 * caller must now sweep. Atomic, so each lapse is claimed by exactly one survivor.
 */
export const CLAIM_LUA = `${HELPERS}
local now = now_ms()
local claim_until = now + tonumber(ARGV[1])
local claimed = {}
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, ARGV[2])) do
  redis.call('ZREM', KEYS[1], g)
  redis.call('ZADD', KEYS[2], claim_until, g)
  claimed[#claimed + 1] = g
end
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now, 'LIMIT', 0, ARGV[2])) do
  redis.call('ZADD', KEYS[2], claim_until, g)
  claimed[#claimed + 1] = g
end
return claimed
`;

/** A connection with the scripts above defined as commands (EVALSHA, falling back to EVAL). */
export interface PresenceRedis extends Redis {
  presenceTrack(...keysAndArgs: string[]): Promise<number>;
  presenceUntrack(...keysAndArgs: string[]): Promise<number>;
  presenceAssert(...keysAndArgs: string[]): Promise<[number, number]>;
  presenceSweep(...keysAndArgs: string[]): Promise<number>;
  presenceRenew(...keysAndArgs: string[]): Promise<number>;
  presenceClaim(...keysAndArgs: string[]): Promise<string[]>;
}

/**
 * Defines the scripts on `redis` (a Redis, or a Cluster: the same commands) for `keyspace`: the
 * number of keys per channel script, and PUBLISH or SPUBLISH.
 */
export function definePresenceCommands(redis: Redis, keyspace: PresenceKeyspace): PresenceRedis {
  const publish = (lua: string): string =>
    lua.replaceAll('{{PUBLISH}}', keyspace.isCluster ? 'SPUBLISH' : 'PUBLISH');
  const numberOfKeys = keyspace.channelKeyCount;
  redis.defineCommand('presenceTrack', { numberOfKeys, lua: publish(TRACK_LUA) });
  redis.defineCommand('presenceUntrack', { numberOfKeys, lua: publish(UNTRACK_LUA) });
  redis.defineCommand('presenceAssert', { numberOfKeys, lua: publish(ASSERT_LUA) });
  redis.defineCommand('presenceSweep', { numberOfKeys, lua: publish(SWEEP_LUA) });
  redis.defineCommand('presenceRenew', { numberOfKeys: 1, lua: RENEW_LUA });
  redis.defineCommand('presenceClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
  return redis as PresenceRedis;
}

/** What a presence diff's message starts with; the diff JSON follows. */
export function presenceEnvelopePrefix(gatewayId: string, ts: number): string {
  return encodeBroadcastMessage(
    {
      v: BROADCAST_MESSAGE_VERSION,
      src: gatewayId,
      shape: 'presence',
      event: 'presence_diff',
      enc: 'json',
      ts,
    },
    '',
  );
}
