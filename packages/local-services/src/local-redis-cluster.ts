import { parseClusterNodes, slotCount, type ClusterNodeView } from './cluster-nodes';
import { LocalRedis } from './local-redis';
import { LocalServiceError } from './local-service-error';
import { queryRedis, RedisReplyError, type RespValue } from './redis-query';

/** Options for {@link LocalRedisCluster.start}. */
export interface LocalRedisClusterOptions {
  /** Masters, each serving an equal share of the 16,384 hash slots. Default 3. */
  masters?: number;
  /** Replicas of each master (needed to survive a master's death). Default 0. */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout`: how long a node is unreachable before it is judged failing; a replica
   * takes over about twice this after its master died. Default 1000 (Redis's own is 15 000).
   */
  nodeTimeoutMs?: number;
  /** `cluster-require-full-coverage`: refuse every query while a slot has no master. Default true. */
  requireFullCoverage?: boolean;
  /** Path of `redis-server`. */
  binPath?: string;
  /** How long forming (or healing) the cluster may take. Default 30 000. */
  timeoutMs?: number;
}

export const CLUSTER_SLOTS = 16_384;

/**
 * A throwaway Redis Cluster of local `redis-server` processes on free ports, for tests and
 * `pnpm dev`: `masters` masters splitting the hash slots evenly, each with `replicasPerMaster`
 * replicas. Forms the cluster itself (CLUSTER MEET, ADDSLOTSRANGE, REPLICATE); no redis-cli needed.
 *
 * Guarantees: start() resolves only once every node reports `cluster_state:ok`, every node knows
 * every other, all slots are served by live masters and every replica's link to its master is up.
 * Nodes are {@link LocalRedis} instances, so none outlives the current process; a node killed and
 * started again keeps its port and identity and rejoins (empty: nothing is persisted).
 */
export class LocalRedisCluster {
  readonly host = '127.0.0.1';

  private constructor(
    /** Every node, masters first (in slot order), then the replicas (of master 0, 1, …). */
    readonly nodes: readonly LocalRedis[],
    private readonly timeoutMs: number,
  ) {}

  /** Starts the nodes and forms the cluster. */
  static async start(opts: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
    const masters = opts.masters ?? 3;
    const replicas = opts.replicasPerMaster ?? 0;
    if (!Number.isInteger(masters) || masters < 1) throw new Error('a cluster needs at least one master');
    const cluster = {
      nodeTimeoutMs: opts.nodeTimeoutMs ?? 1000,
      requireFullCoverage: opts.requireFullCoverage ?? true,
    };
    const started = await Promise.allSettled(
      Array.from({ length: masters * (1 + replicas) }, () =>
        LocalRedis.start({ cluster, ...(opts.binPath ? { binPath: opts.binPath } : {}) }),
      ),
    );
    const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const result = new LocalRedisCluster(nodes, opts.timeoutMs ?? 30_000);
    try {
      if (failed) throw failed.reason;
      await result.form(masters, replicas);
    } catch (err) {
      await result.destroy();
      throw err;
    }
    return result;
  }

  /** `127.0.0.1:<port>` of every node, comma-separated: the value of REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.nodes.map((n) => `${this.host}:${n.port}`).join(',');
  }

  /** The cluster as the first running node that answers sees it. */
  async view(): Promise<ClusterNodeView[]> {
    for (const node of this.nodes) {
      if (!node.isRunning()) continue;
      const text = await this.ask(node, ['CLUSTER', 'NODES']).catch(() => null);
      if (typeof text === 'string') return parseClusterNodes(text);
    }
    throw new Error('no node of the cluster answers');
  }

  /** The running nodes that serve slots now, in slot order. */
  async masters(): Promise<LocalRedis[]> {
    const view = await this.view();
    return view
      .filter((v) => v.role === 'master' && v.slots.length > 0 && !v.isFailing)
      .sort((a, b) => a.slots[0]![0] - b.slots[0]![0])
      .map((v) => this.byPort(v.port))
      .filter((n): n is LocalRedis => n !== undefined && n.isRunning());
  }

  /** The node serving `slot` now. */
  async masterOf(slot: number): Promise<LocalRedis> {
    const view = await this.view();
    const owner = view.find(
      (v) => v.role === 'master' && !v.isFailing && v.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    const node = owner && this.byPort(owner.port);
    if (!node) throw new Error(`no live master serves slot ${slot}`);
    return node;
  }

  /**
   * Kills `master` (SIGKILL) and waits until one of its replicas took its slots over and the
   * cluster is healthy again without it; resolves with the promoted node.
   */
  async failOver(master: LocalRedis): Promise<LocalRedis> {
    const before = await this.view();
    const dead = before.find((v) => v.port === master.port);
    if (!dead || dead.role !== 'master') throw new Error(`node ${master.port} is not a master`);
    await master.kill();
    await this.waitUntilHealthy();
    const after = await this.view();
    const slot = dead.slots[0]![0];
    const heir = after.find(
      (v) => v.role === 'master' && !v.isFailing && v.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    const node = heir && this.byPort(heir.port);
    if (!node || node === master) throw new Error(`no replica took over the slots of ${master.port}`);
    return node;
  }

  /**
   * Resolves once every running node reports `cluster_state:ok`, knows every running node, sees
   * all slots served by running masters, and every running replica's link to its master is up.
   */
  async waitUntilHealthy(timeoutMs = this.timeoutMs): Promise<void> {
    let problem = '';
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      problem = await this.healthProblem().catch((err: unknown) => String(err));
      if (problem === '') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new LocalServiceError('StartFailed', `the Redis Cluster did not become healthy: ${problem}`);
  }

  /** Kills every node and removes their directories. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }

  private async form(masters: number, replicas: number): Promise<void> {
    const [first] = this.nodes;
    for (const node of this.nodes.slice(1)) {
      await this.expectOk(node, [
        'CLUSTER',
        'MEET',
        this.host,
        String(first!.port),
        String(first!.clusterBusPort),
      ]);
    }
    for (let i = 0; i < masters; i++) {
      const from = Math.floor((i * CLUSTER_SLOTS) / masters);
      const to = Math.floor(((i + 1) * CLUSTER_SLOTS) / masters) - 1;
      await this.expectOk(this.nodes[i]!, ['CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)]);
    }
    await this.until('every node to know every other', async () => {
      for (const node of this.nodes) {
        const view = parseClusterNodes(String(await this.ask(node, ['CLUSTER', 'NODES'])));
        if (view.length !== this.nodes.length || view.some((v) => v.isJoining)) return false;
      }
      return true;
    });
    for (let r = 0; r < masters * replicas; r++) {
      const master = this.nodes[Math.floor(r / replicas)]!;
      const masterId = String(await this.ask(master, ['CLUSTER', 'MYID']));
      await this.expectOk(this.nodes[masters + r]!, ['CLUSTER', 'REPLICATE', masterId]);
    }
    await this.waitUntilHealthy();
  }

  private async healthProblem(): Promise<string> {
    const running = this.nodes.filter((n) => n.isRunning());
    const runningPorts = new Set(running.map((n) => n.port));
    for (const node of running) {
      const info = String(await this.ask(node, ['CLUSTER', 'INFO']));
      if (!info.includes('cluster_state:ok')) return `node ${node.port}: not cluster_state:ok`;
      const view = parseClusterNodes(String(await this.ask(node, ['CLUSTER', 'NODES'])));
      for (const port of runningPorts) {
        const known = view.find((v) => v.port === port);
        if (!known || known.isJoining || known.isFailing)
          return `node ${node.port} does not see ${port} as a live member`;
      }
      const served = view.filter((v) => v.role === 'master' && !v.isFailing && runningPorts.has(v.port));
      if (slotCount(served.flatMap((v) => v.slots)) !== CLUSTER_SLOTS)
        return `node ${node.port} does not see every slot served by a live master`;
      const me = view.find((v) => v.isMyself);
      if (me?.role === 'replica') {
        const replication = String(await this.ask(node, ['INFO', 'replication']));
        if (!replication.includes('master_link_status:up'))
          return `replica ${node.port}: link to its master is down`;
      }
    }
    return '';
  }

  private byPort(port: number): LocalRedis | undefined {
    return this.nodes.find((n) => n.port === port);
  }

  private async ask(node: LocalRedis, args: string[]): Promise<RespValue> {
    const reply = await queryRedis({ host: this.host, port: node.port, args });
    if (reply instanceof RedisReplyError)
      throw new Error(`${args.join(' ')} on ${node.port}: ${reply.message}`);
    return reply;
  }

  private async expectOk(node: LocalRedis, args: string[]): Promise<void> {
    const reply = await this.ask(node, args);
    if (reply !== 'OK') throw new Error(`${args.join(' ')} on ${node.port} answered ${String(reply)}`);
  }

  private async until(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new LocalServiceError(
      'StartFailed',
      `the Redis Cluster could not form: timed out waiting for ${what}`,
    );
  }
}
