/**
 * The system under fuzz: PostgreSQL and Redis of its own, the ingester, one gateway with
 * SECURE_CHANNELS on, the trickle writer, the control client joined through that gateway, and the
 * noise probe that each gateway reading comes with.
 *
 * A gateway that crashed, stalled or lost a delivery is restarted before the next property run
 * (fast-check keeps running, and shrinking, on a healthy gateway), and the control client
 * reconnects; `restarts` counts those.
 */
import {
  type WalcastStack,
  startStackWithSchema,
  type Backends,
  type ServiceProcess,
  waitFor,
} from '@walcast/test-utils';

import { ControlClient } from './control-client';
import { readGateway, type GatewayReading } from './gateway-metrics';
import { NoiseProbe } from './noise-probe';
import { FUZZ_SECRET, mintToken } from './tokens';
import { TABLE_DDL, TrickleWriter } from './trickle-writer';
import { warmUp } from './warm-up';

const GATEWAY_ENV = {
  SECURE_CHANNELS: 'true',
  JWT_SECRET: FUZZ_SECRET,
  LOG_LEVEL: 'error',
};

export class FuzzTarget {
  /**
   * Resting readings of the current gateway process once the control client joined and the memory
   * warm-up (warm-up.ts) is over: the values the gauges return to, and the memory baseline.
   */
  baseline!: GatewayReading;
  restarts = 0;
  /** Set by a failed run: the gateway is restarted before the next one. */
  needsRestart = false;
  control!: ControlClient;
  /** Deliveries checked by control clients of earlier gateway processes. */
  private checkedBefore = 0;

  private constructor(
    private readonly backends: Backends,
    private readonly stack: WalcastStack,
    readonly writer: TrickleWriter,
    private readonly noise: NoiseProbe,
  ) {}

  static async start(): Promise<FuzzTarget> {
    const { backends, stack } = await startStackWithSchema(
      [
        TABLE_DDL,
        'create publication supabase_realtime for all tables',
        // Row authorization (on by default with SECURE_CHANNELS) checks each row as the token's role.
        'create role authenticated nologin',
        'grant usage on schema public to authenticated',
        'grant select on public.items to authenticated',
      ],
      { gateways: 1, gatewayEnv: GATEWAY_ENV, ingesterEnv: { LOG_LEVEL: 'warn' } },
    );
    let writer: TrickleWriter | null = null;
    let noise: NoiseProbe | null = null;
    try {
      writer = await TrickleWriter.start(backends.pg.url);
      noise = await NoiseProbe.start();
      const target = new FuzzTarget(backends, stack, writer, noise);
      await target.openControl();
      return target;
    } catch (err) {
      noise?.stop();
      await writer?.stop();
      await stack.stop().catch(() => undefined);
      await backends.stop().catch(() => undefined);
      throw err;
    }
  }

  get port(): number {
    return this.stack.gatewayPorts[0]!;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/socket/websocket`;
  }

  get gateway(): ServiceProcess {
    return this.stack.gateways[0]!;
  }

  /** Rows the control clients received in order, over every gateway process. */
  get deliveriesChecked(): number {
    return this.checkedBefore + this.control.checked;
  }

  /**
   * Scrapes the gateway, then reads the noise probe: both reset their delay histograms, so the two
   * delays cover the same interval (from the previous reading on).
   */
  async read(timeoutMs: number): Promise<GatewayReading & { noiseMs: number }> {
    const reading = await readGateway(this.port, timeoutMs);
    return { ...reading, noiseMs: await this.noise.read() };
  }

  /** How the gateway ended, with its last output (for a crash report); null while it runs. */
  exitDescription(): string | null {
    if (this.gateway.isRunning()) return null;
    const lines = this.gateway.lines.filter((l) => l.trim() !== '').slice(-6);
    return `gateway exited; last output:\n    ${lines.map((l) => l.slice(0, 300)).join('\n    ')}`;
  }

  /** Restarts the gateway (and the control client) if the last run left it unfit. */
  async ensureHealthy(): Promise<void> {
    if (!this.needsRestart && this.gateway.isRunning() && this.control.isOpen) return;
    this.control.close();
    this.checkedBefore += this.control.checked;
    await this.gateway.kill('SIGKILL');
    await this.stack.startGateway(0);
    this.restarts++;
    this.needsRestart = false;
    await this.openControl();
  }

  async stop(): Promise<void> {
    this.control?.close();
    this.noise.stop();
    await this.writer.stop();
    await this.stack.stop().catch(() => undefined);
    await this.backends.stop().catch(() => undefined);
  }

  private async openControl(): Promise<void> {
    this.control = await ControlClient.open(
      this.url,
      mintToken({ kind: 'valid' }),
      () => this.writer.committed,
    );
    // A first row through, the warm-up, then the resting readings (the scrape also resets the delay
    // histogram, so the warm-up's own delays are not counted).
    const id = await this.writer.nextCommit();
    if (!(await this.control.waitFor(id, 10_000))) throw new Error('the control client received no row');
    const resting = await this.read(5000);
    await warmUp(`${this.url}?apikey=${mintToken({ kind: 'valid' })}`);
    let reading = resting;
    await waitFor(
      async () => {
        reading = await this.read(5000);
        return reading.connections === resting.connections && reading.channels === resting.channels;
      },
      { timeoutMs: 20_000, intervalMs: 200, message: 'the gateway at rest after the warm-up' },
    );
    this.baseline = reading;
  }
}
