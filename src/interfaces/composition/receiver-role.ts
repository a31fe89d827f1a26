import type { Server } from 'node:http';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { GraphQLSchema } from 'graphql';
import { presenceMessage, type AccessTokenVerifier, type ChatReadModel, type EphemeralPublisher, type EventTransport, type PresenceStore } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
import { PostgresEventHistory } from '../../infrastructure/persistence/postgres-event-history.adapter';
import { FeedStore } from '../../infrastructure/receiver/feed-store';
import { InterestFeed } from '../../infrastructure/receiver/interest-feed';
import { PresenceTracker } from '../../infrastructure/receiver/presence-tracker';
import { GRAPHQL_PATH } from '../graphql/create-yoga';
import type { GraphQLContext } from '../graphql/graphql-context';
import type { RateLimiter } from '../graphql/rate-limit';
import type { ReadinessCheck } from '../http/readiness';
import { SubscriptionRouter } from '../realtime/subscription-router';
import { SubscriptionServer } from '../realtime/subscription-server';
import { TypingRelay } from '../realtime/typing-relay';
import { UnreadCountFrames } from '../realtime/unread-count-frames';
import type { ComponentErrorLog } from './component-log';

export interface ReceiverRoleDependencies {
  config: Config;
  database: Database;
  transport: EventTransport & EphemeralPublisher;
  presence: PresenceStore;
  /** This process's id in presence claims. */
  receiverId: string;
  /** The time in ms (typing lapses follow it; a test may make time pass). */
  now(): number;
  /** The Redis subscriber's health, when the transport is Redis (null for the in-process bus). */
  subscriberHealthy: (() => boolean) | null;
  /** The number of ordering partitions in force. */
  partitions: number;
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
  feed: InterestFeed;
  typing: TypingRelay;
  presence: PresenceTracker;
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
  let feed: InterestFeed | null = null;
  const router = new SubscriptionRouter({
    schema: deps.schema,
    interest: {
      followChat: (chatId) => feed!.followChat(chatId),
      releaseChat: (chatId) => feed!.releaseChat(chatId),
      followUser: (userId) => feed!.followUser(userId),
      releaseUser: (userId) => feed!.releaseUser(userId),
    },
    contextFor,
    onError: log('subscription-router'),
    onDelivered: (message, frames) => {
      if (frames === 0) return;
      metrics.framesSent.inc(frames);
      if (message.meta.occurredAt) metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(message.meta.occurredAt)) / 1000);
    },
  });
  const presence = new PresenceTracker({
    store: deps.presence,
    publisher: deps.transport,
    chatsOf: (userId) => deps.readModel.chatAddressesOf(userId),
    intervalMs: config.presenceIntervalMs,
    onError: log('presence'),
    onAnnounced: (signal) => metrics.presenceTransitions.inc({ to: signal.online ? 'online' : 'offline' }),
  });
  const typing = new TypingRelay({ router, now: deps.now });
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
    onUserConnected: (userId) => presence.connected(userId),
    onUserDisconnected: (userId) => presence.disconnected(userId),
  });
  const counts = new UnreadCountFrames({ router, readModel: deps.readModel, onError: log('unread-counts') });
  const interestFeed = new InterestFeed(deps.transport, new FeedStore(database.orm), {
    partitions: deps.partitions,
    deliver: (record) => {
      const delivered = router.receive(record);
      counts.follow(record);
      typing.follow(record);
      return delivered;
    },
    onTyping: (signal) => typing.heard(signal),
    onPresence: (signal, viewers) => router.deliverLocal([presenceMessage(signal, viewers)]),
    onError: log('receiver-feed'),
    onFilled: (partition, rows, reason) => {
      metrics.receiverFills.inc();
      deps.logger.info({ partition, rows, reason }, 'read a partition from the outbox up to its tick: it could not prove it had every row');
    },
    onOverflow: () => metrics.receiverOverflows.inc(),
    onSilent: (partition) => deps.logger.warn({ partition }, 'no progress tick from a followed partition; reading it from the outbox once one comes'),
    // Every few seconds while a relay is away: worth a line only when looking closely.
    onRenewed: (partition) => deps.logger.debug({ partition }, 'still no tick from a partition waiting for one: subscribed to it again'),
    onHeard: (needed) => metrics.receiverEventsHeard.inc({ needed: needed ? 'yes' : 'no' }),
  });
  feed = interestFeed;

  const readinessChecks: ReadinessCheck[] = [];
  if (deps.subscriberHealthy) {
    const healthy = deps.subscriberHealthy;
    readinessChecks.push({ name: 'redis-subscriber', check: async () => healthy() });
  }

  return {
    router,
    subscriptions,
    feed: interestFeed,
    typing,
    presence,
    readinessChecks,
    whenCaughtUp: () => interestFeed.whenCaughtUp(),
    async stop() {
      await subscriptions.close();
      // The sockets' releases are queued by now: the users this receiver held go offline, announced.
      await presence.stop();
      typing.stop();
      await interestFeed.stop();
      counts.stop();
    },
  };
}
