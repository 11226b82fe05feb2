/**
 * The control client: a real websocket client of the fuzzed gateway, joined to the legacy topic
 * `realtime:public:items`, that checks every INSERT of the trickle writer arrives once and in id
 * order. It keeps only the last id and its findings, never the frames, so long runs stay small.
 *
 * Rows committed before its join was answered may or may not arrive; from the first row after
 * that (allowing one INSERT in flight) every id must follow the previous one. Like realtime-js it
 * sends a heartbeat every {@link HEARTBEAT_MS}, so SOCKET_TIMEOUT never closes it.
 */
import WebSocket, { type RawData } from 'ws';

const TOPIC = 'realtime:public:items';
const HEARTBEAT_MS = 15_000;

export class ControlClient {
  /** The last id received in order; null before the first. */
  last: number | null = null;
  /** Ids received in sequence (the deliveries checked). */
  checked = 0;
  /** What went wrong: lost or repeated ids, the channel erroring, the socket closing. */
  readonly problems: string[] = [];
  /** Rows up to this id were committed (or in flight) before the join was answered. */
  private floor = 0;
  private nextRef = 1;
  private readonly replies = new Map<string, (payload: unknown) => void>();
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly ws: WebSocket,
    private readonly committed: () => number,
  ) {
    ws.on('message', (data: RawData) => this.receive(String(data)));
    this.timer = setInterval(() => void this.heartbeat(HEARTBEAT_MS), HEARTBEAT_MS);
    ws.on('close', (code: number) => {
      clearInterval(this.timer);
      if (!this.stopped) this.problems.push(`control socket closed (${code})`);
      for (const resolve of this.replies.values()) resolve(null);
    });
    ws.on('error', () => undefined);
  }

  /**
   * Connects with `token`, joins, and resolves once joined. `committed` reads the writer's last
   * committed id when the join is answered.
   */
  static async open(url: string, token: string, committed: () => number): Promise<ControlClient> {
    const ws = new WebSocket(`${url}?vsn=1.0.0&apikey=${encodeURIComponent(token)}`, {
      handshakeTimeout: 5000,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new ControlClient(ws, committed);
    const reply = (await client.request(TOPIC, 'phx_join', {}, 10_000)) as { status?: string } | null;
    if (reply?.status !== 'ok') throw new Error(`control join answered ${JSON.stringify(reply)}`);
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Resolves once the row `id` (or a later one) has arrived; false after `timeoutMs`. */
  async waitFor(id: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.last ?? 0) < id) {
      if (Date.now() > deadline || !this.isOpen) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return true;
  }

  /** A heartbeat round trip; false when no reply came within `timeoutMs`. */
  async heartbeat(timeoutMs: number): Promise<boolean> {
    const reply = (await this.request('phoenix', 'heartbeat', {}, timeoutMs)) as { status?: string } | null;
    return reply?.status === 'ok';
  }

  close(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws.terminate();
  }

  private request(topic: string, event: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const ref = String(this.nextRef++);
    return new Promise((resolve) => {
      if (!this.isOpen) {
        resolve(null);
        return;
      }
      const timer = setTimeout(() => {
        this.replies.delete(ref);
        resolve(null);
      }, timeoutMs);
      this.replies.set(ref, (p) => {
        clearTimeout(timer);
        this.replies.delete(ref);
        resolve(p);
      });
      this.ws.send(JSON.stringify({ topic, event, payload, ref, join_ref: topic === TOPIC ? ref : null }));
    });
  }

  private receive(text: string): void {
    const msg = JSON.parse(text) as { topic: string; event: string; payload: unknown; ref: string | null };
    if (msg.event === 'phx_reply') {
      // Read at once: changes arriving in the same read as the reply are handled before any await resumes.
      if (msg.topic === TOPIC) this.floor = this.committed() + 1;
      if (msg.ref !== null) this.replies.get(msg.ref)?.(msg.payload);
      return;
    }
    if (msg.topic !== TOPIC) return;
    if (msg.event === 'phx_error' || msg.event === 'phx_close') {
      this.problems.push(`control channel got ${msg.event}`);
      return;
    }
    if (msg.event !== 'INSERT') return;
    const id = (msg.payload as { record?: { id?: unknown } }).record?.id;
    if (typeof id !== 'number') {
      this.problems.push(`INSERT without a numeric record id: ${text.slice(0, 200)}`);
      return;
    }
    this.check(id);
  }

  private check(id: number): void {
    const last = this.last;
    // Before the first row: anything up to the first row committed after the join was answered.
    const inOrder = last === null ? id <= this.floor + 1 : id === last + 1;
    if (!inOrder && last !== null && id <= last) {
      this.problems.push(`row ${id} arrived again or out of order (after ${last})`);
      return;
    }
    if (!inOrder) {
      const from = last === null ? this.floor + 1 : last + 1;
      this.problems.push(`rows ${from}..${id - 1} never arrived (got ${id} next)`);
    }
    this.last = id;
    this.checked++;
  }
}
