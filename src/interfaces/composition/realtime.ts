import type { Server } from 'node:http';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { GraphQLSchema } from 'graphql';
import type { AccessTokenVerifier, ChatReadModel, EventTransport } from '../../application';
import { hasRole, type Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
import { PostgresEventHistory } from '../../infrastructure/persistence/postgres-event-history.adapter';
import type { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import { GaplessFeed } from '../../infrastructure/receiver/gapless-feed';
import { RedisTransport } from '../../infrastructure/redis/redis-transport.adapter';
import { InProcessTransport } from '../../infrastructure/relay/in-process-transport.adapter';
import { OutboxReader } from '../../infrastructure/relay/outbox-reader';
import { OutboxRelay } from '../../infrastructure/relay/outbox-relay';
import { PostgresCommitSignal } from '../../infrastructure/relay/postgres-commit-signal';
import { RelayLeadership } from '../../infrastructure/relay/relay-leadership';
import { GRAPHQL_PATH } from '../graphql/create-yoga';
import type { GraphQLContext } from '../graphql/graphql-context';
import type { RateLimiter } from '../graphql/rate-limit';
import type { ReadinessCheck } from '../http/readiness';
import { SubscriptionRouter } from '../realtime/subscription-router';
import { SubscriptionServer } from '../realtime/subscription-server';
import { UnreadCountFrames } from '../realtime/unread-count-frames';

export interface RealtimeDependencies {
  config: Config;
  database: Database;
  unitOfWork: PostgresChatUnitOfWork;
  readModel: ChatReadModel;
  verifier: AccessTokenVerifier;
  commandBus: CommandBus;
  queryBus: QueryBus;
  schema: GraphQLSchema;
  /** Operations per user per second, shared by HTTP and WebSocket. */
  rateLimiter: RateLimiter;
  httpServer: Server;
  logger: Logger;
  metrics: ParleyMetrics;
}

export interface Realtime {
  transport: EventTransport;
  relay: OutboxRelay | null;
  leadership: RelayLeadership | null;
  router: SubscriptionRouter | null;
  subscriptions: SubscriptionServer | null;
  feed: GaplessFeed | null;
  readinessChecks: ReadinessCheck[];
  /** Resolves once this instance's relay and feed have each caught up with what was committed before the call. */
  whenCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The event flow of DESIGN.md §3–§4, composed by role: senders signal commits, the relay (one leader
 * at a time) publishes the outbox to the transport, receivers route to subscribers and tell them
 * of unread counts. Without REDIS_URL every role is in this process and the transport is a local bus.
 */
export function startRealtime(deps: RealtimeDependencies): Realtime {
  const { config, database, logger, metrics } = deps;
  const log = (component: string) => (error: unknown) => logger.warn({ err: error, component }, `${component}: ${(error as Error)?.message ?? error}`);
  const redis = config.redisUrl
    ? new RedisTransport({
        url: config.redisUrl,
        prefix: config.redisChannelPrefix,
        onError: log('redis'),
        onResubscribed: () => void feed?.catchUp(),
      })
    : null;
  const transport: EventTransport = redis ?? new InProcessTransport(log('receiver'));
  const signal = config.databaseUrl ? new PostgresCommitSignal(config.databaseUrl, log('commit-signal')) : null;
  const readinessChecks: ReadinessCheck[] = [];
  // A sender only writes to PostgreSQL: it stays ready while Redis is away.
  if (redis && (hasRole(config, 'relay') || hasRole(config, 'receiver'))) {
    readinessChecks.push({ name: 'redis', check: () => redis.publisherHealthy() });
  }

  // Relay: publishes the outbox; with a real database only while holding the leader lock.
  let relay: OutboxRelay | null = null;
  let leadership: RelayLeadership | null = null;
  if (hasRole(config, 'relay')) {
    // With Redis, one relay feeds every instance, so one leads. Without it each process relays the
    // outbox to its own receivers (several `all` instances on one database each deliver everything).
    leadership = config.databaseUrl && config.redisUrl
      ? new RelayLeadership({
          databaseUrl: config.databaseUrl,
          onGained: (epoch) => {
            logger.info({ epoch }, 'this instance is now the relay leader');
            metrics.relayLeader.set(1);
            relay!.forgetCheckpoint();
            relay!.wake();
          },
          onLost: () => {
            metrics.relayLeader.set(0);
            logger.warn('this instance lost the relay lead');
          },
          onEndedFrozenLeader: (leader) =>
            logger.warn(leader, 'ended the session of a relay leader whose heartbeat had stopped, to replace it'),
          onError: log('relay-leadership'),
        })
      : null;
    relay = new OutboxRelay(database.orm, transport, {
      pollIntervalMs: config.pollIntervalMs,
      lead: leadership ?? undefined,
      onError: log('outbox-relay'),
      onPublished: (records) => {
        metrics.relayedRecords.inc(records.length);
        const newest = records[records.length - 1]?.messages[0]?.meta.occurredAt;
        if (newest) metrics.outboxLag.set(Math.max(0, (Date.now() - Date.parse(newest)) / 1000));
      },
    });
  }
  const committed = () => {
    relay?.wake();
    signal?.notify();
  };
  deps.unitOfWork.onCommit(committed);

  // Receiver: subscriptions and their unread counts, fed in order and without gaps.
  let unreadCounts: UnreadCountFrames | null = null;
  let router: SubscriptionRouter | null = null;
  let subscriptions: SubscriptionServer | null = null;
  let feed: GaplessFeed | null = null;
  let catchUpTimer: NodeJS.Timeout | null = null;
  let unsubscribe = () => undefined as unknown;
  if (hasRole(config, 'receiver')) {
    const contextFor = (viewerId: string): GraphQLContext => ({
      commandBus: deps.commandBus,
      queryBus: deps.queryBus,
      viewer: { userId: viewerId },
      unreadCountOf: (chatId, userId) => deps.readModel.unreadCountOf(chatId, userId),
    });
    const activeRouter = new SubscriptionRouter({
      schema: deps.schema,
      contextFor,
      onError: log('subscription-router'),
      onDelivered: (message, frames) => {
        if (frames === 0) return;
        metrics.framesSent.inc(frames);
        if (message.meta.occurredAt) metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(message.meta.occurredAt)) / 1000);
      },
    });
    router = activeRouter;
    subscriptions = new SubscriptionServer(deps.httpServer, {
      schema: deps.schema,
      router: activeRouter,
      history: new PostgresEventHistory(database.orm),
      readModel: deps.readModel,
      verifier: deps.verifier,
      contextFor,
      rateLimiter: deps.rateLimiter,
      limits: { ...config.websocket, ...config.limits },
      path: GRAPHQL_PATH,
      onError: log('subscriptions'),
      onConnectionCountChanged: (count) => metrics.connectedClients.set(count),
      onSlowConsumer: () => metrics.droppedSlowClients.inc(),
    });
    const counts = new UnreadCountFrames({ router: activeRouter, readModel: deps.readModel, onError: log('unread-counts') });
    unreadCounts = counts;
    feed = new GaplessFeed(new OutboxReader(database.orm), {
      deliver: (record) => {
        const delivered = activeRouter.receive(record);
        counts.follow(record);
        return delivered;
      },
      onError: log('receiver-feed'),
      onGapFilled: (records) => logger.info({ records }, 'filled a gap in the relayed stream from the outbox'),
      onOverflow: () => metrics.receiverOverflows.inc(),
    });
    const activeFeed = feed;
    void activeFeed.start();
    unsubscribe = transport.subscribe((record) => activeFeed.accept(record));
    if (redis) {
      readinessChecks.push({ name: 'redis-subscriber', check: async () => redis.subscriberHealthy() });
      // A safety net beside the probe: anything committed and never heard of is read from the outbox.
      catchUpTimer = setInterval(() => void activeFeed.catchUp(), Math.max(config.pollIntervalMs, 1000) * 5);
      catchUpTimer.unref();
    }
  }

  relay?.start();
  leadership?.start();
  if (relay && signal) void signal.listen(() => relay!.wake());

  return {
    transport,
    relay,
    leadership,
    router,
    subscriptions,
    feed,
    readinessChecks,
    async whenCaughtUp() {
      // In order: what the relay publishes reaches the feed.
      await relay?.whenCaughtUp();
      await feed?.whenCaughtUp();
    },
    async stop() {
      if (catchUpTimer) clearInterval(catchUpTimer);
      await subscriptions?.close();
      unsubscribe();
      unreadCounts?.stop();
      await relay?.stop();
      await leadership?.stop();
      await signal?.stop();
      await redis?.close();
    },
  };
}
