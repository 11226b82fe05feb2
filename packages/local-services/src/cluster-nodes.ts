/**
 * Reading `CLUSTER NODES`: one line per node, `<id> <ip:port@cport[,hostname]> <flags> <master>
 * <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> <slot> …`, where a slot is `n`, `a-b`
 * or, while it migrates, `[n->-id]` / `[n-<-id]` (ignored here).
 */

/** One node as another node (or itself) sees it. */
export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's id, for a replica. */
  masterId: string | null;
  /** Flagged `fail` or `fail?` by the node that answered. */
  isFailing: boolean;
  /** Still in the handshake: not yet a member. */
  isJoining: boolean;
  isMyself: boolean;
  /** Slot ranges served, `[first, last]` inclusive. */
  slots: Array<[number, number]>;
}

/** Parses the text of `CLUSTER NODES`. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  const nodes: ClusterNodeView[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(' ');
    if (parts.length < 8) continue;
    const [id, address, flagText, master] = parts as [string, string, string, string];
    const flags = flagText.split(',');
    const port = Number(address.split('@')[0]!.split(':').pop());
    const slots: Array<[number, number]> = [];
    for (const slot of parts.slice(8)) {
      if (slot.startsWith('[')) continue;
      const [first, last] = slot.split('-');
      slots.push([Number(first), Number(last ?? first)]);
    }
    nodes.push({
      id,
      port,
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? null : master,
      isFailing: flags.includes('fail') || flags.includes('fail?'),
      isJoining: flags.includes('handshake') || flags.includes('noaddr'),
      isMyself: flags.includes('myself'),
      slots,
    });
  }
  return nodes;
}

/** How many slots the ranges cover. */
export function slotCount(ranges: ReadonlyArray<[number, number]>): number {
  return ranges.reduce((n, [first, last]) => n + last - first + 1, 0);
}
