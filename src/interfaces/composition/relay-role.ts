import type { EventTransport } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
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
  partitions: number;
  logger: Logger;
  metrics: ParleyMetrics;
  log: ComponentErrorLog;
}

export interface RelayRole {
  relay: OutboxRelay;
  leadership: RelayLeadership | null;
  readinessChecks: ReadinessCheck[];
  /** Resolves once everything committed before the call is published (by this relay, when it leads). */
  whenCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The relay role: publishes the outbox to the transport. With Redis, one relay feeds every instance,
 * so relays in several processes take turns under one leadership; without it each process relays the
 * outbox to its own receivers (several `all` instances on one database each deliver everything).
 */
export function startRelayRole(deps: RelayRoleDependencies): RelayRole {
  const { config, logger, metrics, log } = deps;
  const leadership = config.databaseUrl && config.redisUrl
    ? new RelayLeadership({
        databaseUrl: config.databaseUrl,
        onGained: (epoch) => {
          logger.info({ epoch }, 'this instance is now the relay leader');
          metrics.relayLeader.set(1);
        },
        onLost: () => {
          metrics.relayLeader.set(0);
          logger.warn('this instance lost the relay lead');
        },
        onEndedFrozenLeader: (leader) => logger.warn(leader, 'ended the session of a relay leader whose heartbeat had stopped, to replace it'),
        transportAnswers: deps.transportAnswers ?? undefined,
        onSteppedDown: (reason) => {
          metrics.relayStepDowns.inc();
          logger.warn({ reason }, `this instance stepped down as relay leader: it cannot publish to Redis (${reason}); a relay that can takes the lead`);
        },
        onStandingAside: (aside) => {
          if (aside) logger.warn('Redis does not answer this relay: it does not try for the relay lead until it does');
          else logger.info('Redis answers this relay again: it may take the relay lead');
        },
        onError: log('relay-leadership'),
      })
    : null;
  const relay = new OutboxRelay(deps.database.orm, deps.transport, {
    pollIntervalMs: config.pollIntervalMs,
    partitions: deps.partitions,
    lead: leadership ?? undefined,
    onError: log('outbox-relay'),
    onPublished: (records) => {
      metrics.relayedRecords.inc(records.length);
      const newest = records[records.length - 1]?.messages[0]?.meta.occurredAt;
      if (newest) metrics.outboxLag.set(Math.max(0, (Date.now() - Date.parse(newest)) / 1000));
    },
  });

  relay.start();
  leadership?.start();
  if (deps.signal) void deps.signal.listen(() => relay.wake());

  return {
    relay,
    leadership,
    readinessChecks: [],
    whenCaughtUp: () => relay.whenCaughtUp(),
    async stop() {
      await relay.stop();
      await leadership?.stop();
    },
  };
}
