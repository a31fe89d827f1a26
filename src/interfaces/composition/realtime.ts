import type { EventTransport } from '../../application';
import { hasRole, redisEndpoint } from '../../infrastructure/config/config';
import type { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import type { InterestFeed } from '../../infrastructure/receiver/interest-feed';
import { RedisTransport } from '../../infrastructure/redis/redis-transport.adapter';
import { InProcessTransport } from '../../infrastructure/relay/in-process-transport.adapter';
import type { OutboxRelay } from '../../infrastructure/relay/outbox-relay';
import { PostgresCommitSignal } from '../../infrastructure/relay/postgres-commit-signal';
import type { RelayLeadership } from '../../infrastructure/relay/relay-leadership';
import type { ReadinessCheck } from '../http/readiness';
import type { SubscriptionRouter } from '../realtime/subscription-router';
import type { SubscriptionServer } from '../realtime/subscription-server';
import { componentErrorLog } from './component-log';
import { startReceiverRole, type ReceiverRoleDependencies } from './receiver-role';
import { startRelayRole } from './relay-role';

/** What the roles need from the rest of the instance; each role adds what realtime.ts makes for it. */
export interface RealtimeDependencies extends Omit<ReceiverRoleDependencies, 'transport' | 'subscriberHealthy' | 'log'> {
  unitOfWork: PostgresChatUnitOfWork;
}

export interface Realtime {
  transport: EventTransport;
  relay: OutboxRelay | null;
  leadership: RelayLeadership | null;
  router: SubscriptionRouter | null;
  subscriptions: SubscriptionServer | null;
  feed: InterestFeed | null;
  readinessChecks: ReadinessCheck[];
  /** Resolves once this instance's relay and feed have each caught up with what was committed before the call. */
  whenCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The event flow of DESIGN.md §3–§4, by role: senders signal commits, the relay role (one leader at a
 * time) publishes the outbox to the transport, the receiver role routes to subscribers and tells them
 * of unread counts. Without REDIS_URL (or REDIS_CLUSTER_URLS) every role is in this process and the transport is a local bus.
 */
export function startRealtime(deps: RealtimeDependencies): Realtime {
  const { config, logger } = deps;
  const log = componentErrorLog(logger);
  const endpoint = redisEndpoint(config);
  const redis = endpoint
    ? new RedisTransport({
        ...endpoint,
        prefix: config.redisChannelPrefix,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        onError: log('redis'),
        onMoved: (partitions, reason) => {
          deps.metrics.redisPartitionsMoved.inc({ reason }, partitions);
          logger.info({ partitions, reason }, 'Redis Cluster: partitions subscribed anew, and filled from the outbox');
        },
      })
    : null;
  const transport: EventTransport = redis ?? new InProcessTransport(log('receiver'));
  const signal = config.databaseUrl ? new PostgresCommitSignal(config.databaseUrl, log('commit-signal'), deps.database.connection) : null;

  const relayRole = hasRole(config, 'relay')
    ? startRelayRole({
        ...deps,
        transport,
        signal,
        transportAnswers: redis ? () => redis.publisherHealthy() : null,
        publishClassic: redis ? (messages) => redis.publishClassic(messages) : null,
        log,
      })
    : null;
  const receiverRole = hasRole(config, 'receiver')
    ? startReceiverRole({ ...deps, transport, subscriberHealthy: redis ? () => redis.subscriberHealthy() : null, log })
    : null;
  // Every process that writes wakes its own relay and, through NOTIFY, those of other processes.
  deps.unitOfWork.onCommit(() => {
    relayRole?.relay.wake();
    signal?.notify();
  });

  // A sender only writes to PostgreSQL: it stays ready while Redis is away.
  const transportChecks: ReadinessCheck[] = redis && (relayRole || receiverRole)
    ? [{ name: 'redis', check: () => redis.publisherHealthy() }]
    : [];

  return {
    transport,
    relay: relayRole?.relay ?? null,
    leadership: relayRole?.leadership ?? null,
    router: receiverRole?.router ?? null,
    subscriptions: receiverRole?.subscriptions ?? null,
    feed: receiverRole?.feed ?? null,
    readinessChecks: [...transportChecks, ...(relayRole?.readinessChecks ?? []), ...(receiverRole?.readinessChecks ?? [])],
    async whenCaughtUp() {
      // In order: what the relay publishes reaches the feed.
      await relayRole?.whenCaughtUp();
      await receiverRole?.whenCaughtUp();
    },
    async stop() {
      await receiverRole?.stop();
      await relayRole?.stop();
      await signal?.stop();
      await redis?.close();
    },
  };
}
