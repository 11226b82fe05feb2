/**
 * The ingester's lifecycle: check the database, open the slot, stream, and on any failure start
 * again after a jittered backoff, resuming from the slot's confirmed position.
 *
 * States: `starting` → `streaming` ⇄ `retrying` → `stopping` → `stopped`. Readiness is `streaming`
 * with Redis reachable. Each failure is logged once per change of its code, not once per retry.
 *
 * Before each session the `realtime` schema is migrated (or, with MANAGE_SCHEMA=false, checked):
 * the ingester is never ready without it. The stream reads the user's publication and, when it
 * exists, the messages publication; if the slot has not yet confirmed the position from which that
 * publication may be streamed (schema/schema-manager.ts), the session reads the user's publication
 * alone until it has, then reconnects at once with both.
 */
import { Client } from 'pg';
import { jitteredBackoffMs, type Bus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import type { IngesterConfig } from './config';
import type { IngesterMetrics } from './metrics';
import { errorCode, IngesterError, type IngesterErrorCode } from './errors';
import {
  TypeRegistry,
  TYPE_CATALOG_SQL,
  typeRegistrationFromRow,
  type TypeCatalogRow,
} from './changes/type-registry';
import { ChangeSource } from './replication/change-source';
import { MESSAGES_PUBLICATION } from './schema/migrations';
import { checkSchema, migrateSchema, type SchemaState } from './schema/schema-manager';
import { ensurePublication, ensureSlot, ensureWalLevel } from './replication/slot-setup';
import { StreamSession } from './replication/stream-session';
import { lsnFromText, lsnToText, type Lsn } from './replication/lsn';

/** A table's primary key columns, in key order. */
const PRIMARY_KEY_SQL = `select a.attname from pg_index i
  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
  where i.indrelid = $1 and i.indisprimary
  order by array_position(i.indkey::int2[], a.attnum)`;

export type IngesterState = 'starting' | 'streaming' | 'standby' | 'retrying' | 'stopping' | 'stopped';

export class Ingester {
  private currentState: IngesterState = 'starting';
  private lastErrorCode: IngesterErrorCode | null = null;
  private lastError: string | null = null;
  private session: StreamSession | null = null;
  private catalog: Client | null = null;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private sessions = 0;
  /** Flow control from Redis subscribers: WAL reading is held while true. */
  private held = false;
  /** Set when a session ends on purpose to reconnect with the messages publication. */
  private reconnectNow = false;
  /** Where the messages publication may be streamed from, learnt from a refusal (see streamOnce). */
  private messagesFromFallback: Lsn = 0n;
  private lastMissing = '';
  /** Last confirmed position, for logs and health. */
  confirmedLsn: Lsn = 0n;
  /** What the last schema step found (null before the first). */
  schema: SchemaState | null = null;

  constructor(
    private readonly config: IngesterConfig,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly metrics: IngesterMetrics,
    /** Told the size of every message before it is published (flow control spends a budget). */
    private readonly onPublishing: ((bytes: number) => void) | null = null,
    /** Told the commit time and end LSN of every transaction Redis accepted (history trimming). */
    private readonly onTransactionPublished: ((commitTimeMs: number, endLsn: Lsn) => void) | null = null,
  ) {}

  get state(): IngesterState {
    return this.currentState;
  }

  /**
   * `null` when ready: streaming, or a healthy standby waiting for the slot another ingester holds,
   * with Redis reachable. Otherwise why not.
   */
  notReadyReason(): string | null {
    if (this.currentState !== 'streaming' && this.currentState !== 'standby') {
      return this.lastError ? `${this.currentState}: ${this.lastError}` : this.currentState;
    }
    if (this.bus.state !== 'ready') return `redis ${this.bus.state}`;
    return null;
  }

  /** Bytes published and not yet answered by Redis (0 between sessions). */
  get inFlightBytes(): number {
    return this.session?.inFlightBytes ?? 0;
  }

  /** Holds (true) or releases WAL reading, in this session and the next ones. */
  hold(held: boolean): void {
    this.held = held;
    this.session?.hold(held);
  }

  start(): void {
    this.loop ??= this.runLoop();
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    this.currentState = 'stopping';
    this.wake?.();
    await this.session?.stop();
    await this.loop;
    this.currentState = 'stopped';
  }

  private async runLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopRequested) {
      try {
        await this.streamOnce();
      } catch (err) {
        if (this.stopRequested) break;
        if (this.reconnectNow) {
          this.reconnectNow = false;
          attempt = 0;
          continue;
        }
        this.currentState = errorCode(err) === 'SlotInUse' ? 'standby' : 'retrying';
        this.reportFailure(err);
      }
      if (this.stopRequested) break;
      attempt = this.currentState === 'retrying' && this.lastErrorCode ? attempt + 1 : 0;
      // A standby polls at a steady pace so it takes over soon after the leader goes.
      if (this.currentState === 'standby') attempt = 2;
      const delayMs = this.backoffMs(attempt);
      this.log.debug({ code: this.lastErrorCode, attempt, delayMs }, 'retrying');
      await this.sleep(delayMs);
    }
  }

  private async streamOnce(): Promise<void> {
    const catalog = new Client({ ...this.config.pg, application_name: 'walcast-ingester-catalog' });
    catalog.on('error', (err) => this.log.debug({ err }, 'catalog connection error'));
    this.catalog = catalog;
    try {
      await catalog.connect().catch((err: unknown) => {
        throw new IngesterError(
          'DatabaseUnavailable',
          `cannot connect to PostgreSQL at ${this.config.pgTarget}: ${(err as Error).message}`,
          { cause: err },
        );
      });
      await ensureWalLevel(catalog);
      const schema = await this.prepareSchema(catalog);
      await ensurePublication(catalog, this.config.publication);
      const slot = await ensureSlot(catalog, this.config.slotName);
      if (slot.created) this.log.info({ slot: this.config.slotName }, 'replication slot created');
      // Deferred: the slot is behind the point from which the messages publication can be decoded.
      const messagesFromLsn =
        schema.messagesFromLsn > this.messagesFromFallback
          ? schema.messagesFromLsn
          : this.messagesFromFallback;
      const deferMessages = schema.messagesPublication && slot.confirmedLsn < messagesFromLsn;
      const publications =
        schema.messagesPublication && !deferMessages
          ? [this.config.publication, MESSAGES_PUBLICATION]
          : [this.config.publication];
      if (deferMessages)
        this.log.info(
          { from: lsnToText(messagesFromLsn), confirmed: lsnToText(slot.confirmedLsn) },
          `streaming without ${MESSAGES_PUBLICATION} until the slot passes its creation`,
        );
      const registry = new TypeRegistry();
      this.sessions++;
      this.metrics.sessions.inc();
      const session = new StreamSession({
        source: new ChangeSource({
          pg: this.config.pg,
          slot: this.config.slotName,
          publications,
        }),
        bus: this.bus,
        registry,
        loadTypes: async (oids) => {
          const { rows } = await catalog.query<TypeCatalogRow>(TYPE_CATALOG_SQL, [oids]);
          for (const row of rows) registry.register(typeRegistrationFromRow(row));
        },
        loadPrimaryKey: async (relationOid) => {
          const { rows } = await catalog.query<{ attname: string }>(PRIMARY_KEY_SQL, [relationOid]);
          return rows.map((r) => r.attname);
        },
        instanceId: `${this.config.instanceId}/${this.sessions}`,
        startLsn: slot.confirmedLsn,
        statusIntervalMs: this.config.statusIntervalMs,
        maxInFlight: this.config.maxInFlight,
        maxInFlightBytes: this.config.maxInFlightBytes,
        log: this.log,
        onStreaming: () => {
          this.currentState = 'streaming';
          if (this.lastErrorCode) this.log.info({ previous: this.lastErrorCode }, 'recovered');
          this.lastErrorCode = null;
          this.lastError = null;
          this.log.info({ slot: this.config.slotName, lsn: lsnToText(slot.confirmedLsn) }, 'streaming');
        },
        onConfirmed: (lsn) => {
          this.confirmedLsn = lsn;
          if (deferMessages && lsn >= messagesFromLsn && !this.reconnectNow && !this.stopRequested) {
            this.log.info(`the slot passed the creation of ${MESSAGES_PUBLICATION}; reconnecting with it`);
            this.reconnectNow = true;
            void session.stop();
          }
        },
        ...(this.onPublishing ? { onPublishing: this.onPublishing } : {}),
        maxBroadcastBytes: this.config.maxBroadcastBytes,
        onPublished: (bytes, kind) => {
          if (kind === 'broadcast') this.metrics.broadcastsPublished.inc();
          else this.metrics.changesPublished.inc();
          this.metrics.bytesPublished.inc(bytes);
        },
        onBroadcastDropped: (reason) => this.metrics.broadcastsDropped.inc({ reason }),
        onTransactionPublished: (commitTimeMs, endLsn) => {
          this.metrics.commitToPublish.observe(Math.max(0, Date.now() - commitTimeMs) / 1000);
          this.onTransactionPublished?.(commitTimeMs, endLsn);
        },
        history: this.config.history !== null,
      });
      this.session = session;
      if (this.held) session.hold(true);
      try {
        await session.run();
      } catch (err) {
        // Without a migration record (MANAGE_SCHEMA=false), the publication's creation point is
        // unknown until pgoutput (before PostgreSQL 18) refuses WAL decoded before it: defer it to now.
        if (publications.includes(MESSAGES_PUBLICATION) && isMissingMessagesPublication(err)) {
          const { rows } = await catalog.query<{ lsn: string }>(
            'select pg_current_wal_insert_lsn()::text as lsn',
          );
          this.messagesFromFallback = lsnFromText(rows[0]!.lsn);
          this.log.warn(
            { code: 'RealtimeSchemaMissing', from: rows[0]!.lsn },
            `the slot has WAL from before ${MESSAGES_PUBLICATION} was created; streaming without it up to the ` +
              'current position (messages sent since its creation and before now are not broadcast)',
          );
        }
        throw err;
      }
    } finally {
      this.session = null;
      this.catalog = null;
      await catalog.end().catch(() => undefined);
    }
  }

  /** Migrates the realtime schema (MANAGE_SCHEMA) or checks it, logging what is missing once per change. */
  private async prepareSchema(catalog: Client): Promise<SchemaState> {
    let schema: SchemaState;
    if (this.config.manageSchema) {
      schema = await migrateSchema(catalog);
      if (schema.applied.length > 0) this.log.info({ versions: schema.applied }, 'realtime schema migrated');
    } else {
      schema = await checkSchema(catalog);
      const missing = schema.missing.join(', ');
      if (missing && missing !== this.lastMissing) {
        this.log.warn(
          { code: 'RealtimeSchemaMissing', missing: schema.missing },
          'MANAGE_SCHEMA=false and realtime schema objects are missing: messages sent from the database ' +
            'are not broadcast until they exist (docs/realtime-schema.md has the SQL)',
        );
      }
      this.lastMissing = missing;
    }
    this.schema = schema;
    return schema;
  }

  private reportFailure(err: unknown): void {
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    if (code === 'SlotInUse') {
      if (this.lastErrorCode !== code)
        this.log.info(
          { code, slot: this.config.slotName, reason: message },
          'standby: another ingester holds the slot',
        );
    } else if (code !== this.lastErrorCode || message !== this.lastError) {
      this.log.warn({ err, code, slot: this.config.slotName }, 'replication unavailable; retrying');
    }
    this.lastErrorCode = code;
    this.lastError = message;
  }

  private backoffMs(attempt: number): number {
    return jitteredBackoffMs(attempt, 250, this.config.reconnectMaxDelayMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** pgoutput's refusal to decode WAL from before the messages publication existed. */
function isMissingMessagesPublication(err: unknown): boolean {
  return err instanceof Error && err.message.includes(`publication "${MESSAGES_PUBLICATION}" does not exist`);
}
