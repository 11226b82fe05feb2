/**
 * The catalogue of codes operators see: in the `code` field of log lines, in readiness reasons and
 * in metric labels. Client-facing codes are in error-codes.ts; together they are every code walcast
 * emits. `where` names the files that emit the code (a unit test checks it); `pnpm docs:errors`
 * writes docs/errors.md from here.
 */

export interface LogCodeEntry {
  doc: string;
  where: readonly string[];
}

/**
 * The ingester's dependency failures: it logs each once per change, reports itself not ready and
 * retries with jittered backoff up to RECONNECT_MAX_DELAY. `doc` says what to do.
 */
export const IngesterErrorCodes = {
  WalLevelNotLogical: {
    doc: '`wal_level` is not `logical`: set it and restart PostgreSQL.',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  PublicationMissing: {
    doc:
      'the publication (`PUBLICATION`) does not exist: `CREATE PUBLICATION supabase_realtime FOR ALL ' +
      'TABLES;`. The ingester starts streaming by itself once it exists.',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  SlotInUse: {
    doc: 'another process streams from the slot: this ingester waits as a standby (ready) and takes over when the slot is free.',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  SlotInvalidated: {
    doc:
      'the slot lost WAL it needed (`max_slot_wal_keep_size`): drop it, restart, have clients refetch ' +
      '([operations.md](operations.md)).',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  SlotWrongPlugin: {
    doc: 'a slot with this name exists with another output plugin: choose another `SLOT_NAME` or drop it.',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  SlotWrongDatabase: {
    doc: 'the slot belongs to another database: fix `SLOT_NAME` or `DB_NAME`.',
    where: ['services/ingester/src/replication/slot-setup.ts'],
  },
  DatabaseUnavailable: {
    doc: 'PostgreSQL cannot be reached with the configured address and credentials.',
    where: ['services/ingester/src/ingester.ts'],
  },
  SchemaMigrationFailed: {
    doc:
      'a migration of the `realtime` schema failed (MANAGE_SCHEMA): the message says which and why; give the ' +
      'user the privileges it needs, or set `MANAGE_SCHEMA=false` and create the objects of ' +
      '[realtime-schema.md](realtime-schema.md) yourself.',
    where: ['services/ingester/src/schema/schema-manager.ts'],
  },
  ReplicationFailed: {
    doc:
      'the replication stream or a publish failed (connection lost, walsender terminated): the ingester ' +
      'resumes from the confirmed position.',
    where: ['services/ingester/src/replication/slot-setup.ts', 'services/ingester/src/errors.ts'],
  },
} as const satisfies Record<string, LogCodeEntry>;

export type IngesterErrorCode = keyof typeof IngesterErrorCodes;

/** Conditions logged (and counted in the metrics) that are neither a client answer nor an ingester failure. */
export const LogCodes = {
  SlotLag: {
    doc:
      'ingester: the slot retains more WAL than `SLOT_LAG_WARN`, or its `wal_status` turned `unreserved`; ' +
      'once per crossing ([operations.md](operations.md)).',
    where: ['services/ingester/src/replication/slot-monitor.ts'],
  },
  SlowSubscriber: {
    doc:
      'ingester: a Redis subscriber (a gateway) stayed more than `SUBSCRIBER_BACKLOG_PAUSE` behind for ' +
      '`SUBSCRIBER_BACKLOG_MAX_WAIT`; the ingester stops waiting for it, and Redis may then close it ' +
      '(its clients miss changes, counted as `StreamGap`).',
    where: ['services/ingester/src/publish/subscriber-flow.ts'],
  },
  BroadcastDropped: {
    doc:
      'ingester: a row of `realtime.messages` could not be broadcast (no topic or event, both or neither ' +
      'payload, or a payload over `MAX_BROADCAST_BYTES`); it is skipped, counted in ' +
      '`walcast_ingester_broadcasts_dropped_total` and logged at most 5 times a minute.',
    where: ['services/ingester/src/replication/stream-session.ts'],
  },
  RealtimeSchemaMissing: {
    doc:
      'ingester: with `MANAGE_SCHEMA=false`, objects of the `realtime` schema are missing (listed in ' +
      '`missing`); messages sent from the database are not broadcast until they exist ' +
      '([realtime-schema.md](realtime-schema.md)). Logged once per change.',
    where: ['services/ingester/src/ingester.ts'],
  },
  RetentionFailed: {
    doc:
      'ingester: deleting rows of `realtime.messages` older than `MESSAGE_RETENTION` failed; the next run ' +
      'tries again (`walcast_ingester_retention_failures_total`).',
    where: ['services/ingester/src/schema/message-retention.ts'],
  },
  ChangesMissed: {
    doc:
      'gateway: channels that may have missed changes (a `StreamGap`, or Redis back after an outage) ' +
      'were ended with `phx_error`; clients rejoin by themselves and applications refetch on SUBSCRIBED ' +
      '(`walcast_gateway_channels_failed_total`).',
    where: ['services/gateway/src/gateway-server.ts'],
  },
  StreamGap: {
    doc:
      "gateway: a jump in one ingester's per-topic sequence: Redis pub/sub dropped changes on their way " +
      'to this gateway (`walcast_gateway_missed_changes_total`).',
    where: ['services/gateway/src/channels/channel-registry.ts'],
  },
  MalformedBusMessage: {
    doc:
      'gateway: a Redis message that is not a walcast envelope of a known version; dropped and counted ' +
      '(`walcast_gateway_bad_bus_messages_total`). Its `err.code` is `MalformedEnvelope` or `UnknownVersion`.',
    where: ['services/gateway/src/channels/channel-registry.ts'],
  },
  MalformedEnvelope: {
    doc: 'gateway: the `err.code` of a `MalformedBusMessage` whose header or event is not valid JSON of the expected shape.',
    where: ['packages/protocol/src/bus-message.ts'],
  },
  UnknownVersion: {
    doc: 'gateway: the `err.code` of a `MalformedBusMessage` from a newer ingester (an envelope version this gateway does not read).',
    where: ['packages/protocol/src/bus-message.ts'],
  },
  InvalidToken: {
    doc:
      'gateway: a token was refused (at connect: HTTP 403; on a channel: the join reason or the end of ' +
      'the channel); the `reason` field is one of the token refusal reasons below.',
    where: ['services/gateway/src/auth/auth-error.ts'],
  },
  TokenExpired: {
    doc: 'gateway: as `InvalidToken`, for a token whose `exp` has passed (reason `expired`).',
    where: ['services/gateway/src/auth/auth-error.ts'],
  },
  PolicyError: {
    doc:
      'gateway: a row-level security policy raised while a change or a private channel was checked; ' +
      'that subscriber gets an error row, or that channel check answers false (throttled warning).',
    where: ['services/gateway/src/rls/policy-evaluator.ts', 'services/gateway/src/rls/channel-authorizer.ts'],
  },
  RealtimeMessagesUnusable: {
    doc:
      "gateway: private channels cannot be checked because the gateway's database role could not insert " +
      'probe rows into `realtime.messages` (the table is missing, or the role lacks INSERT or is subject ' +
      'to its policies): run the migrations that create it, or connect as its owner.',
    where: ['services/gateway/src/rls/channel-authorizer.ts'],
  },
  InspectorNotBuilt: {
    doc:
      'gateway: `INSPECTOR` is on but the page is missing from `dist/inspector` (`pnpm build` writes it); ' +
      '`/inspector` answers 503 until the gateway is built and restarted ([inspector.md](inspector.md)).',
    where: ['services/gateway/src/http/inspector-page.ts'],
  },
  PresenceUnavailable: {
    doc:
      'gateway: the presence store lost Redis (logged once per outage); presence track and untrack fail ' +
      'until it is back, then the gateway re-asserts its presences (`PresenceResync`).',
    where: ['services/gateway/src/presence/presence-store.ts'],
  },
  PresenceResync: {
    doc:
      "gateway: this gateway's presence lease was missing (other gateways swept it after it stalled or " +
      'was cut off from Redis, or Redis restarted empty); it re-asserts its presences, which join again ' +
      '(`walcast_gateway_presence_resyncs_total`).',
    where: ['services/gateway/src/presence/presence-store.ts'],
  },
  PresenceLeaseLapsed: {
    doc:
      'gateway: another gateway stopped renewing its presence lease for `PRESENCE_LEASE` (killed, or cut ' +
      'off from Redis); this gateway removed its presences and published their leaves (`gateway` names it).',
    where: ['services/gateway/src/presence/presence-sweeper.ts'],
  },
  MalformedPresenceEntry: {
    doc:
      'gateway: a stored presence entry is not valid (another version or a hand edit wrote it); it is ' +
      'skipped when the presence state is read (`walcast_gateway_presence_malformed_entries_total`).',
    where: ['services/gateway/src/presence/presence-store.ts'],
  },
} as const satisfies Record<string, LogCodeEntry>;

export type LogCode = keyof typeof LogCodes;

/**
 * Why a token was refused: the `reason` field of `InvalidToken`/`TokenExpired` log lines and the
 * `reason` label of `walcast_gateway_auth_refusals_total`.
 */
export const TokenRefusalReasons = {
  missing: {
    doc: 'no token was sent (`apikey` or `access_token`).',
    where: ['services/gateway/src/ws/upgrade.ts', 'services/gateway/src/auth/jose-token-verifier.ts'],
  },
  'too-large': {
    doc: 'the token is longer than the gateway accepts.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  malformed: {
    doc: 'the token is not a JWT, or a claim has the wrong type.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  algorithm: {
    doc: 'the algorithm is not one the configured keys allow.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  signature: {
    doc: 'the signature does not verify.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  'unknown-key': {
    doc: "no configured key has the token's `kid`.",
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  'key-unavailable': {
    doc: 'the JWKS could not be fetched (logged as a warning).',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  'exp-missing': {
    doc: 'the token has no `exp`.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  expired: { doc: "the token's `exp` has passed.", where: ['services/gateway/src/auth/auth-error.ts'] },
  'not-yet-valid': {
    doc: "the token's `nbf` is in the future.",
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
  'claim-mismatch': {
    doc: 'a claim differs from `JWT_CLAIM_VALIDATORS`.',
    where: ['services/gateway/src/auth/jose-token-verifier.ts'],
  },
} as const satisfies Record<string, LogCodeEntry>;

export type TokenRefusalReason = keyof typeof TokenRefusalReasons;
