import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { EphemeralPublisher, EventTransport, PresenceStore } from '../../application';
import { hasRole, redisEndpoint, type Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import { InProcessPresenceStore } from '../../infrastructure/receiver/in-process-presence-store';
import { RedisPresenceStore } from '../../infrastructure/redis/redis-presence-store.adapter';
import type { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import type { InterestFeed } from '../../infrastructure/receiver/interest-feed';
import type { PresenceTracker } from '../../infrastructure/receiver/presence-tracker';
import type { TypingRelay } from '../realtime/typing-relay';
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
export interface RealtimeDependencies extends Omit<ReceiverRoleDependencies, 'transport' | 'subscriberHealthy' | 'log' | 'receiverId' | 'presence'> {
  unitOfWork: PostgresChatUnitOfWork;
  transports: Transports;
}

/** How events and signals travel: Redis when there is one, else a local bus; made before the rest, since commands publish signals. */
export interface Transports {
  transport: EventTransport & EphemeralPublisher;
  redis: RedisTransport | null;
  presence: PresenceStore;
  /** This process's id as a receiver (in presence claims and logs). */
  receiverId: string;
  close(): Promise<void>;
}

export function createTransports(config: Config, logger: Logger, metrics: ParleyMetrics): Transports {
  const log = componentErrorLog(logger);
  const endpoint = redisEndpoint(config);
  const receiverId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const redis = endpoint
    ? new RedisTransport({
        ...endpoint,
        prefix: config.redisChannelPrefix,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        onError: log('redis'),
        onMoved: (partitions, reason) => {
          metrics.redisPartitionsMoved.inc({ reason }, partitions);
          logger.info({ partitions, reason }, 'Redis Cluster: partitions subscribed anew, and filled from the outbox');
        },
      })
    : null;
  const presence = endpoint
    ? new RedisPresenceStore({
        target: endpoint,
        prefix: config.redisChannelPrefix,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        receiverId,
        claimMs: config.presenceIntervalMs * 2,
        onError: log('presence'),
      })
    : new InProcessPresenceStore();
  return {
    transport: redis ?? new InProcessTransport(log('receiver')),
    redis,
    presence,
    receiverId,
    async close() {
      await redis?.close();
      if (presence instanceof RedisPresenceStore) await presence.close();
    },
  };
}

export interface Realtime {
  transport: EventTransport;
  relay: OutboxRelay | null;
  leadership: RelayLeadership | null;
  router: SubscriptionRouter | null;
  subscriptions: SubscriptionServer | null;
  feed: InterestFeed | null;
  typing: TypingRelay | null;
  presence: PresenceTracker | null;
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
  const { transport, redis } = deps.transports;
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
    ? startReceiverRole({
        ...deps,
        transport,
        presence: deps.transports.presence,
        receiverId: deps.transports.receiverId,
        subscriberHealthy: redis ? () => redis.subscriberHealthy() : null,
        log,
      })
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
    typing: receiverRole?.typing ?? null,
    presence: receiverRole?.presence ?? null,
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
      await deps.transports.close();
    },
  };
}
