import { Module, type DynamicModule } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import {
  AccessTokenVerifier,
  APPLICATION_HANDLERS,
  ChatReadModel,
  ChatUnitOfWork,
  Clock,
  EphemeralPublisher,
  IdGenerator,
  PresenceDirectory,
} from '../../application';
import { JwtAccessTokenVerifier } from '../../infrastructure/auth/jwt-access-token-verifier.adapter';
import type { Config } from '../../infrastructure/config/config';
import type { Database } from '../../infrastructure/persistence/database';
import { PostgresChatReadModel } from '../../infrastructure/persistence/postgres-chat-read-model.adapter';
import { PostgresChatUnitOfWork } from '../../infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import { RandomIdGenerator } from '../../infrastructure/system/random-id-generator.adapter';
import { SystemClock } from '../../infrastructure/system/system-clock.adapter';
import type { Logger } from '../../infrastructure/logging/logger';
import type { ParleyMetrics } from '../../infrastructure/metrics/metrics';
import { HealthController } from '../http/health.controller';
import { MetricsController, MetricsSource } from '../http/metrics.controller';
import { Readiness, type ReadinessCheck } from '../http/readiness';
import type { Transports } from './realtime';

export interface AppRuntime {
  config: Config;
  database: Database;
  metrics: ParleyMetrics;
  logger: Logger;
  readinessChecks: ReadinessCheck[];
  transports: Transports;
  /** The system clock unless a test brings its own. */
  clock?: Clock;
}

/** The composition root: the only place that chooses an adapter for each port. */
@Module({})
export class AppModule {
  static register(runtime: AppRuntime): DynamicModule {
    // Embedded PGlite has one connection: a second transaction in flight would only wait for it.
    const { concurrency, maxBatch } = runtime.config.writes;
    const unitOfWork = new PostgresChatUnitOfWork(runtime.database, {
      concurrency: runtime.database.embedded ? 1 : concurrency,
      maxBatch,
      maxQueued: runtime.config.writes.maxQueued,
      onBatch: (commands, seconds) => {
        runtime.metrics.writeBatchCommands.observe(commands);
        runtime.metrics.writeBatchSeconds.observe(seconds);
      },
      onAppendLock: (waitSeconds, holdSeconds) => {
        runtime.metrics.appendLockWaitSeconds.observe(waitSeconds);
        runtime.metrics.appendLockHoldSeconds.observe(holdSeconds);
      },
      onRetry: () => runtime.metrics.writeRetries.inc(),
      onSessionLost: (outcome, error) => {
        runtime.metrics.writeSessionsLost.inc({ outcome });
        runtime.logger.warn({ err: error, outcome }, 'a write batch lost its database session; its outcome was settled from the database');
      },
    });
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [HealthController, MetricsController],
      providers: [
        ...APPLICATION_HANDLERS,
        { provide: ChatUnitOfWork, useValue: unitOfWork },
        { provide: PostgresChatUnitOfWork, useValue: unitOfWork },
        { provide: ChatReadModel, useValue: new PostgresChatReadModel(runtime.database.orm) },
        runtime.clock ? { provide: Clock, useValue: runtime.clock } : { provide: Clock, useClass: SystemClock },
        { provide: EphemeralPublisher, useValue: runtime.transports.transport },
        { provide: PresenceDirectory, useValue: runtime.transports.presence },
        { provide: IdGenerator, useClass: RandomIdGenerator },
        { provide: AccessTokenVerifier, useValue: new JwtAccessTokenVerifier(runtime.config.auth) },
        { provide: Readiness, useValue: { checks: () => runtime.readinessChecks } },
        {
          provide: MetricsSource,
          useValue: { contentType: () => runtime.metrics.registry.contentType, render: () => runtime.metrics.registry.metrics() },
        },
      ],
    };
  }
}
