import type { Server } from 'node:http';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { GraphQLSchema } from 'graphql';
import type { AccessTokenVerifier, ChatReadModel, EventTransport } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
import { PostgresEventHistory } from '../../infrastructure/persistence/postgres-event-history.adapter';
import { GaplessFeed } from '../../infrastructure/receiver/gapless-feed';
import { OutboxReader } from '../../infrastructure/relay/outbox-reader';
import { GRAPHQL_PATH } from '../graphql/create-yoga';
import type { GraphQLContext } from '../graphql/graphql-context';
import type { RateLimiter } from '../graphql/rate-limit';
import type { ReadinessCheck } from '../http/readiness';
import { SubscriptionRouter } from '../realtime/subscription-router';
import { SubscriptionServer } from '../realtime/subscription-server';
import { UnreadCountFrames } from '../realtime/unread-count-frames';
import type { ComponentErrorLog } from './component-log';

export interface ReceiverRoleDependencies {
  config: Config;
  database: Database;
  transport: EventTransport;
  /** The Redis subscriber's health, when the transport is Redis (null for the in-process bus). */
  subscriberHealthy: (() => boolean) | null;
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
  log: ComponentErrorLog;
}

export interface ReceiverRole {
  router: SubscriptionRouter;
  subscriptions: SubscriptionServer;
  feed: GaplessFeed;
  readinessChecks: ReadinessCheck[];
  /** Resolves once the feed has handed on everything committed before the call. */
  whenCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The receiver role: GraphQL subscriptions over WebSocket, fed in order and without gaps from the
 * transport (and from the outbox for what the transport missed), and their unread counts.
 */
export function startReceiverRole(deps: ReceiverRoleDependencies): ReceiverRole {
  const { config, database, metrics, log } = deps;
  const contextFor = (viewerId: string): GraphQLContext => ({
    commandBus: deps.commandBus,
    queryBus: deps.queryBus,
    viewer: { userId: viewerId },
    unreadCountOf: (chatId, userId) => deps.readModel.unreadCountOf(chatId, userId),
  });
  const router = new SubscriptionRouter({
    schema: deps.schema,
    contextFor,
    onError: log('subscription-router'),
    onDelivered: (message, frames) => {
      if (frames === 0) return;
      metrics.framesSent.inc(frames);
      if (message.meta.occurredAt) metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(message.meta.occurredAt)) / 1000);
    },
  });
  const subscriptions = new SubscriptionServer(deps.httpServer, {
    schema: deps.schema,
    router,
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
  const counts = new UnreadCountFrames({ router, readModel: deps.readModel, onError: log('unread-counts') });
  const feed = new GaplessFeed(new OutboxReader(database.orm), {
    deliver: (record) => {
      const delivered = router.receive(record);
      counts.follow(record);
      return delivered;
    },
    onError: log('receiver-feed'),
    onGapFilled: (records) => deps.logger.info({ records }, 'filled a gap in the relayed stream from the outbox'),
    onOverflow: () => metrics.receiverOverflows.inc(),
  });

  void feed.start();
  const unsubscribe = deps.transport.subscribe(
    (record) => feed.accept(record),
    () => void feed.catchUp(),
  );
  const readinessChecks: ReadinessCheck[] = [];
  let catchUpTimer: NodeJS.Timeout | null = null;
  if (deps.subscriberHealthy) {
    const healthy = deps.subscriberHealthy;
    readinessChecks.push({ name: 'redis-subscriber', check: async () => healthy() });
    // A safety net beside the probe: anything committed and never heard of is read from the outbox.
    catchUpTimer = setInterval(() => void feed.catchUp(), Math.max(config.pollIntervalMs, 1000) * 5);
    catchUpTimer.unref();
  }

  return {
    router,
    subscriptions,
    feed,
    readinessChecks,
    whenCaughtUp: () => feed.whenCaughtUp(),
    async stop() {
      if (catchUpTimer) clearInterval(catchUpTimer);
      await subscriptions.close();
      unsubscribe();
      counts.stop();
    },
  };
}
