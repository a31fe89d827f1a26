import type { EventTransport, RelayedRecord } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
import { BroadcastChannels, type ClassicPublish } from '../../infrastructure/relay/broadcast-channels';
import { formatDuration } from '../../infrastructure/config/duration';
import { OutboxPruner } from '../../infrastructure/relay/outbox-pruner';
import { OutboxRelay } from '../../infrastructure/relay/outbox-relay';
import type { PostgresCommitSignal } from '../../infrastructure/relay/postgres-commit-signal';
import { RelayLeadership } from '../../infrastructure/relay/relay-leadership';
import type { ReadinessCheck } from '../http/readiness';
import type { ComponentErrorLog } from './component-log';

export interface RelayRoleDependencies {
  config: Config;
  database: Database;
  transport: EventTransport;
  /** Commits of other processes (LISTEN); null with the embedded database. */
  signal: PostgresCommitSignal | null;
  /** Whether the transport answers now; null for the in-process bus, which always does. */
  transportAnswers: (() => Promise<boolean>) | null;
  /** The number of ordering partitions in force (`partitionCount(orm)` once `settlePartitionCount` ran). */
  partitions: number;
  /** Classic PUBLISH on the transport's Redis; null with the in-process bus. */
  publishClassic: ClassicPublish | null;
  logger: Logger;
  metrics: ParleyMetrics;
  log: ComponentErrorLog;
}

export interface RelayRole {
  relay: OutboxRelay;
  leadership: RelayLeadership | null;
  readinessChecks: ReadinessCheck[];
  /** Resolves once everything committed before the call is published for every partition this relay leads. */
  whenCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The relay role: publishes the outbox to the transport. With Redis, relays in several processes share
 * the ordering partitions, each partition under a leadership of its own (DESIGN.md §3); without it each
 * process relays every partition to its own receivers (several `all` instances on one database each
 * deliver everything).
 */
export function startRelayRole(deps: RelayRoleDependencies): RelayRole {
  const { config, logger, metrics, log } = deps;
  let leading = false;
  const leadership = config.databaseUrl && (config.redisUrl || config.redisClusterUrls)
    ? new RelayLeadership({
        databaseUrl: config.databaseUrl,
        partitions: deps.partitions,
        onGained: (partition, epoch) => logger.info({ partition, epoch }, 'this instance now leads a relay partition'),
        onLost: (partition) => {
          // The new leader reports the partition's lag from now on.
          metrics.relayPartitionLag.remove({ partition: String(partition) });
          logger.warn({ partition }, 'this instance no longer leads a relay partition');
        },
        onLedChanged: (count) => {
          metrics.relayPartitionsLed.set(count);
          // The first partition gained and the last one lost keep the lines operators (and the chaos
          // harness) know from a single leader.
          if (count > 0 && !leading) logger.info({ partitions: count }, 'this instance is now the relay leader');
          if (count === 0 && leading) logger.warn('this instance lost the relay lead');
          leading = count > 0;
          metrics.relayLeader.set(leading ? 1 : 0);
        },
        onEndedFrozenLeader: (leader) => logger.warn(leader, 'ended the session of a relay leader whose heartbeat had stopped, to replace it'),
        transportAnswers: deps.transportAnswers ?? undefined,
        onSteppedDown: (reason) => {
          metrics.relayStepDowns.inc();
          logger.warn({ reason }, `this instance gave its relay partitions up: it cannot publish to Redis (${reason}); relays that can take them`);
        },
        onStandingAside: (aside) => {
          if (aside) logger.warn('Redis does not answer this relay: it leads no relay partition until it does');
          else logger.info('Redis answers this relay again: it may lead relay partitions');
        },
        onError: log('relay-leadership'),
      })
    : null;
  // Opt-in (DESIGN.md §3): the original global channels cost a query per page and a message per recipient.
  const broadcast = config.redisBroadcastChannels && deps.publishClassic
    ? new BroadcastChannels({ orm: deps.database.orm, publish: deps.publishClassic, onError: log('broadcast-channels') })
    : null;
  if (config.redisBroadcastChannels && !deps.publishClassic) logger.warn('REDIS_BROADCAST_CHANNELS is set but there is no Redis (REDIS_URL or REDIS_CLUSTER_URLS): nothing is published on the original channels');
  const relay = new OutboxRelay(deps.database.orm, deps.transport, {
    afterPublished: broadcast ? (records) => broadcast.publishPage(records) : undefined,
    partitions: deps.partitions,
    pollIntervalMs: config.pollIntervalMs,
    lead: leadership ?? undefined,
    onError: log('outbox-relay'),
    onPublished: (records) => {
      metrics.relayedRecords.inc(records.length);
      const newest = records[records.length - 1]?.messages[0]?.meta.occurredAt;
      if (newest) metrics.outboxLag.set(Math.max(0, (Date.now() - Date.parse(newest)) / 1000));
      for (const [partition, occurredAt] of newestByPartition(records)) {
        metrics.relayPartitionLag.set({ partition: String(partition) }, Math.max(0, (Date.now() - Date.parse(occurredAt)) / 1000));
      }
    },
  });
  if (!leadership) {
    metrics.relayPartitionsLed.set(deps.partitions);
    metrics.relayLeader.set(1);
  }

  const pruner = startPruner(deps, leadership);

  relay.start();
  leadership?.start();
  if (deps.signal) void deps.signal.listen(() => relay.wake());

  return {
    relay,
    leadership,
    readinessChecks: [],
    whenCaughtUp: () => relay.whenCaughtUp(),
    async stop() {
      await pruner?.stop();
      await relay.stop();
      await leadership?.stop();
    },
  };
}

/**
 * A page may hold rows of several partitions: the newest row's time of each, for its lag. Only each
 * partition's last row is unpacked (a row's messages are parsed on first use, the relay's largest cost
 * per row otherwise): a page is in relay order, so that row is its partition's newest.
 */
function newestByPartition(records: readonly RelayedRecord[]): Map<number, string> {
  const last = new Map<number, RelayedRecord>();
  for (const record of records) last.set(record.partition, record);
  const newest = new Map<number, string>();
  for (const [partition, record] of last) {
    const occurredAt = record.messages[0]?.meta.occurredAt;
    if (occurredAt) newest.set(partition, occurredAt);
  }
  return newest;
}

/**
 * With OUTBOX_RETENTION set, relays prune the outbox (DESIGN.md §4): the one that leads partition 0 (any
 * relay leads it within seconds), so that the work is done once; without a leadership, this process.
 */
function startPruner(deps: RelayRoleDependencies, leadership: RelayLeadership | null): OutboxPruner | null {
  const { config, logger } = deps;
  if (config.outboxRetentionMs === undefined) return null;
  const retention = formatDuration(config.outboxRetentionMs);
  const pruner = new OutboxPruner(deps.database.orm, {
    retentionMs: config.outboxRetentionMs,
    intervalMs: config.outboxPruneIntervalMs,
    databaseUrl: config.databaseUrl,
    connection: { connectTimeoutMs: config.database.connectTimeoutMs, statementTimeoutMs: config.database.statementTimeoutMs },
    shouldRun: () => leadership === null || leadership.led().has(0),
    onPruned: (summary) => {
      deps.metrics.outboxPrunedRows.inc(summary.deleted);
      if (summary.deleted > 0 || summary.unpublished > 0) logger.info({ ...summary, retention }, 'pruned the outbox');
    },
    onError: deps.log('outbox-pruner'),
  });
  pruner.start();
  return pruner;
}
