/**
 * ChangeSource: the one place that knows pg-logical-replication. It streams pgoutput messages from a
 * permanent slot over one replication connection and sends standby status updates on request.
 *
 * Lifecycle: `run()` connects, starts streaming from the slot's confirmed position and resolves or
 * rejects when the stream ends; a ChangeSource is used once (a new one per reconnect, because the
 * library remembers the last *received* LSN and would resume after data we never published).
 *
 * Invariants:
 * - The library's own acknowledgement is off (`auto: false`, `timeoutSeconds: 0`): its timer would
 *   confirm WAL that was received but never published. Only `acknowledge()` confirms.
 * - Messages are decoded by our {@link PgoutputDecoder}, not the library's parser (which cost a
 *   third of the CPU per row); the library still sends START_REPLICATION and reads the stream.
 *   Column values reach the caller as PostgreSQL's text output, untouched, `null` for NULL and
 *   `undefined` for an unchanged TOAST value (or the old value, when the old row is in the message).
 * - A message that cannot be parsed ends the stream with an error instead of crashing the process.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { ClientConfig } from 'pg';
import { PgoutputDecoder, type WalMessage } from '../changes/pgoutput-decoder';
import { lsnFromText, lsnToText, type Lsn } from './lsn';

export type { WalMessage };

export interface ChangeSourceHandlers {
  /** Every pgoutput message, in WAL order, synchronously as it is read. */
  onMessage(msg: WalMessage): void;
  /** A primary keepalive: `walEnd` is the server's position; reply when `shouldRespond`. */
  onKeepalive(walEnd: Lsn, shouldRespond: boolean): void;
  /** Streaming has started. */
  onStart(): void;
}

/** Session settings that fix the text output of values (see changes/value-decoder.ts). */
const SESSION_OPTIONS =
  '-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex';

/**
 * The library's pgoutput plugin (it starts replication with our options), decoding with ours, and
 * never throwing out of the socket handler.
 */
class TextPgoutputPlugin extends PgoutputPlugin {
  parseError: Error | null = null;
  private readonly decoder = new PgoutputDecoder();

  constructor(publications: readonly string[]) {
    super({ protoVersion: 1, publicationNames: [...publications] });
  }

  override parse(buffer: Buffer): Pgoutput.Message {
    let msg: WalMessage;
    try {
      msg = this.decoder.decode(buffer);
    } catch (err) {
      // Thrown from a socket 'data' handler this would crash the process; report it instead.
      this.parseError ??= err as Error;
      msg = { tag: 'origin' };
    }
    // The library passes whatever parse() returns to the 'data' listeners.
    return msg as unknown as Pgoutput.Message;
  }
}

interface LibraryInternals {
  _connection: { stream?: { pause(): void; resume(): void } } | null;
}

export class ChangeSource {
  private readonly service: LogicalReplicationService;
  private readonly plugin: TextPgoutputPlugin;
  private used = false;

  constructor(
    private readonly opts: {
      pg: ClientConfig;
      slot: string;
      /** pgoutput's publication_names: the user's publication, and the messages publication when it exists. */
      publications: readonly string[];
    },
  ) {
    this.service = new LogicalReplicationService(
      { ...opts.pg, application_name: 'walcast-ingester', options: SESSION_OPTIONS },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
    this.plugin = new TextPgoutputPlugin(opts.publications);
  }

  /** Streams until the connection ends; rejects with the cause. Call once. */
  async run(handlers: ChangeSourceHandlers): Promise<void> {
    if (this.used) throw new Error('a ChangeSource runs once; create a new one to reconnect');
    this.used = true;
    let failure: Error | null = null;
    const fail = (err: Error): void => {
      failure ??= err;
      void this.service.stop();
    };
    this.service.on('error', (err: Error) => {
      failure ??= err;
    });
    this.service.on('start', () => handlers.onStart());
    this.service.on('data', (_lsn: string, msg: WalMessage) => {
      if (this.plugin.parseError) return fail(this.plugin.parseError);
      try {
        handlers.onMessage(msg);
      } catch (err) {
        fail(err as Error);
      }
    });
    this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      try {
        handlers.onKeepalive(lsnFromText(lsn), shouldRespond);
      } catch (err) {
        fail(err as Error);
      }
    });
    try {
      await this.service.subscribe(this.plugin, this.opts.slot);
    } catch (err) {
      failure ??= err as Error;
    }
    if (failure) throw failure;
    throw new Error('replication stream ended');
  }

  /**
   * Confirms to PostgreSQL that everything before `lsn` is safe (write = flush = apply = `lsn`).
   * The library sends its argument + 1, so it is given `lsn - 1`.
   */
  acknowledge(lsn: Lsn): void {
    if (lsn <= 0n) return;
    void this.service.acknowledge(lsnToText(lsn - 1n));
  }

  /** Stops reading from the socket (TCP backpressure reaches the walsender); writes still go out. */
  pause(): void {
    (this.service as unknown as LibraryInternals)._connection?.stream?.pause();
  }

  resume(): void {
    (this.service as unknown as LibraryInternals)._connection?.stream?.resume();
  }

  async stop(): Promise<void> {
    await this.service.stop();
  }
}
