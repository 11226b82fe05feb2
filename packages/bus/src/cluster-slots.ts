/**
 * Work over every hash slot of a Redis Cluster, node by node: one script per master over the
 * per-slot keys of the slots it serves (per ioredis's slot map; cluster-scripts.ts). What the
 * cluster keeps per slot (history starts, topic indexes) is read and written this way.
 */
import type { Cluster, Redis } from 'ioredis';
import {
  HASH_SLOTS,
  historyLastKeyForSlot,
  historyStartKeyForSlot,
  historyTopicsKeyForSlot,
} from '@walcast/protocol';
import {
  READ_SETS_SCRIPT,
  RESTART_STARTS_SCRIPT,
  SET_ALL_SCRIPT,
  TRIM_INDEXED_SCRIPT,
} from './cluster-scripts';

/** The slots each master serves, by `host:port`, from ioredis's slot map. */
export function slotsByMaster(cluster: Cluster): Map<string, number[]> {
  const bySlot = new Map<string, number[]>();
  for (let slot = 0; slot < HASH_SLOTS; slot++) {
    const key = cluster.slots[slot]?.[0];
    if (key === undefined) continue;
    const list = bySlot.get(key);
    if (list) list.push(slot);
    else bySlot.set(key, [slot]);
  }
  return bySlot;
}

/** The connection of the master `host:port`, if ioredis has one. */
export function masterNode(cluster: Cluster, key: string): Redis | undefined {
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key);
}

/**
 * Runs `run` for each master with the slots it serves, all at once; rejects when any run does (or
 * a slot's master has no connection), so callers never take a partial answer for a whole one.
 */
export async function forEachMaster<T>(
  cluster: Cluster,
  run: (node: Redis, slots: number[]) => Promise<T>,
): Promise<T[]> {
  // Commands wait (offline queue) until the cluster is connected and its slot map known.
  if (cluster.status !== 'ready') await cluster.ping();
  const groups = [...slotsByMaster(cluster)];
  if (groups.reduce((n, [, slots]) => n + slots.length, 0) !== HASH_SLOTS)
    throw new Error('the Redis Cluster slot map is incomplete');
  return Promise.all(
    groups.map(([key, slots]) => {
      const node = masterNode(cluster, key);
      if (!node) throw new Error(`no connection to the Redis Cluster node ${key}`);
      return run(node, slots);
    }),
  );
}

/** Every table topic of the cluster's per-slot history indexes (historyTopicsKeyForSlot). */
export async function readClusterTopics(cluster: Cluster): Promise<string[]> {
  const lists = await forEachMaster(
    cluster,
    (node, slots) =>
      node.eval(READ_SETS_SCRIPT, 0, ...slots.map(historyTopicsKeyForSlot)) as Promise<string[]>,
  );
  return lists.flat();
}

/** Sets one value in a per-slot key of every slot (`NX`: only where missing; `XX`: everywhere). */
export async function setEverySlot(
  cluster: Cluster,
  keyOf: (slot: number) => string,
  value: string,
  mode: 'NX' | 'XX',
  only: ReadonlySet<number> | null = null,
): Promise<void> {
  await forEachMaster(cluster, (node, slots) => {
    const keys = (only ? slots.filter((s) => only.has(s)) : slots).map(keyOf);
    return keys.length > 0 ? node.eval(SET_ALL_SCRIPT, 0, value, mode, ...keys) : Promise.resolve(0);
  });
}

/**
 * After a failover: overwrites with `position` the history start of each slot of `accepted` whose
 * new master does not hold the last position its old master accepted (the map's value; '' when
 * unknown: overwritten). One script per master.
 */
export async function restartSlots(
  cluster: Cluster,
  position: string,
  accepted: ReadonlyMap<number, string>,
): Promise<void> {
  await forEachMaster(cluster, (node, slots) => {
    const args = slots
      .filter((s) => accepted.has(s))
      .flatMap((s) => [historyStartKeyForSlot(s), historyLastKeyForSlot(s), accepted.get(s)!]);
    return args.length > 0 ? node.eval(RESTART_STARTS_SCRIPT, 0, position, ...args) : Promise.resolve(0);
  });
}

/** Trims every indexed history stream of the cluster before `streamId` (one script per master). */
export async function trimClusterHistory(cluster: Cluster, streamId: string): Promise<void> {
  await forEachMaster(cluster, (node, slots) =>
    node.eval(TRIM_INDEXED_SCRIPT, 0, streamId, ...slots.map(historyTopicsKeyForSlot)),
  );
}
