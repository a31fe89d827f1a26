import type { Server } from 'node:http';
import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { GraphQLSchema } from 'graphql';
import type { AccessTokenVerifier, ChatReadModel, EventTransport } from '../../application';
import type { Config } from '../../infrastructure/config/config';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import type { Database } from '../../infrastructure/persistence/database';
import { PostgresEventHistory } from '../../infrastructure/persistence/postgres-event-history.adapter';
import type { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import { ProjectionRunner } from '../../infrastructure/projections/projection-runner';
import { UnreadCountsProjection } from '../../infrastructure/projections/unread-counts.projection';
import { InProcessTransport } from '../../infrastructure/relay/in-process-transport.adapter';
import { OutboxRelay } from '../../infrastructure/relay/outbox-relay';
import { PostgresCommitSignal } from '../../infrastructure/relay/postgres-commit-signal';
import { GRAPHQL_PATH } from '../graphql/create-yoga';
import type { GraphQLContext } from '../graphql/graphql-context';
import { SubscriptionRouter } from '../realtime/subscription-router';
import { SubscriptionServer } from '../realtime/subscription-server';

export interface RealtimeDependencies {
  config: Config;
  database: Database;
  unitOfWork: PostgresChatUnitOfWork;
  readModel: ChatReadModel;
  verifier: AccessTokenVerifier;
  commandBus: CommandBus;
  queryBus: QueryBus;
  schema: GraphQLSchema;
  httpServer: Server;
  logger: Logger;
  metrics: ParleyMetrics;
}

export interface Realtime {
  transport: EventTransport;
  relay: OutboxRelay;
  projection: ProjectionRunner;
  router: SubscriptionRouter;
  subscriptions: SubscriptionServer;
  stop(): Promise<void>;
}

/**
 * The event flow of DESIGN.md §3–§4 in one process: commit → outbox relay → transport → receivers
 * (subscription router and projections). The transport is the only piece a multi-instance setup swaps.
 */
export function startRealtime(deps: RealtimeDependencies): Realtime {
  const { config, database, logger, metrics } = deps;
  const log = (component: string) => (error: unknown) => logger.error({ err: error, component }, `${component} failed; retrying`);
  const transport = new InProcessTransport(log('receiver'));
  const signal = config.databaseUrl ? new PostgresCommitSignal(config.databaseUrl, log('commit-signal')) : null;

  const relay = new OutboxRelay(database.orm, transport, {
    pollIntervalMs: config.pollIntervalMs,
    onError: log('outbox-relay'),
    onPublished: (records) => {
      metrics.relayedRecords.inc(records.length);
      const newest = records[records.length - 1]?.messages[0]?.meta.occurredAt;
      if (newest) metrics.outboxLag.set(Math.max(0, (Date.now() - Date.parse(newest)) / 1000));
    },
  });
  const committed = () => {
    relay.wake();
    signal?.notify();
  };
  const projection = new ProjectionRunner(database.orm, new UnreadCountsProjection(), {
    pollIntervalMs: config.pollIntervalMs,
    onError: log('projection'),
    onApplied: (count) => {
      metrics.projectedEvents.inc(count);
      committed();
    },
  });
  deps.unitOfWork.onCommit(committed);

  const contextFor = (viewerId: string): GraphQLContext => ({
    commandBus: deps.commandBus,
    queryBus: deps.queryBus,
    viewer: { userId: viewerId },
    unreadCountOf: (chatId, userId) => deps.readModel.unreadCountOf(chatId, userId),
  });
  let subscriptions: SubscriptionServer;
  const router = new SubscriptionRouter({
    schema: deps.schema,
    contextFor,
    revoke: (subscription) => subscriptions.revoke(subscription),
    onError: log('subscription-router'),
    onDelivered: (message, frames) => {
      if (frames === 0) return;
      metrics.framesSent.inc(frames);
      if (message.meta.occurredAt) metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(message.meta.occurredAt)) / 1000);
    },
  });
  subscriptions = new SubscriptionServer(deps.httpServer, {
    schema: deps.schema,
    router,
    history: new PostgresEventHistory(database.orm),
    readModel: deps.readModel,
    verifier: deps.verifier,
    contextFor,
    limits: { ...config.websocket, maxQueryDepth: config.limits.maxQueryDepth },
    path: GRAPHQL_PATH,
    onError: log('subscriptions'),
    onConnectionCountChanged: (count) => metrics.connectedClients.set(count),
    onSlowConsumer: () => metrics.droppedSlowClients.inc(),
  });

  const unsubscribe = transport.subscribe((record) => {
    router.receive(record);
    projection.wake();
  });
  relay.start();
  projection.start();
  void signal?.listen(() => relay.wake());

  return {
    transport,
    relay,
    projection,
    router,
    subscriptions,
    async stop() {
      await subscriptions.close();
      unsubscribe();
      await Promise.all([relay.stop(), projection.stop()]);
      await signal?.stop();
    },
  };
}
