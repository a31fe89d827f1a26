import { redisEndpoint, type Config } from '../../infrastructure/config/config';
import type { Database } from '../../infrastructure/persistence/database';
import { readReceiverFigures, RECEIVER_HEARTBEAT_INTERVAL_MS, type ReceiverFigures } from '../../infrastructure/redis/receiver-heartbeat';
import { readOutboxStatus, readPartitionStatus, type OutboxStatus, type PartitionStatus } from '../../infrastructure/relay/partition-status';

export type { OutboxStatus, PartitionStatus, ReceiverFigures };

/** Receivers as Redis has them, or why they are not known. */
export type ReceiversStatus =
  | { recorded: true; heartbeatIntervalSeconds: number; receivers: ReceiverFigures[] }
  | { recorded: false; reason: string };

/** What `parley status` shows: read from PostgreSQL and Redis, never from a Parley process. */
export interface ClusterStatus {
  at: string;
  partitions: PartitionStatus[];
  receivers: ReceiversStatus;
  outbox: OutboxStatus;
}

/**
 * Gathers the figures; PostgreSQL must answer (it holds the partitions and the outbox), while a Redis
 * that does not answer only leaves the receivers unknown, saying why.
 */
export async function gatherClusterStatus(config: Config, database: Database): Promise<ClusterStatus> {
  const [partitions, outbox, receivers] = await Promise.all([
    readPartitionStatus(database.orm, config.relayPartitions),
    readOutboxStatus(database.orm),
    receiversOf(config),
  ]);
  return { at: new Date().toISOString(), partitions, receivers, outbox };
}

async function receiversOf(config: Config): Promise<ReceiversStatus> {
  const endpoint = redisEndpoint(config);
  if (!endpoint) return { recorded: false, reason: 'REDIS_URL and REDIS_CLUSTER_URLS are unset: receivers record themselves in Redis only' };
  try {
    const receivers = await readReceiverFigures(endpoint, config.redisChannelPrefix, config.redisCommandTimeoutMs);
    return { recorded: true, heartbeatIntervalSeconds: RECEIVER_HEARTBEAT_INTERVAL_MS / 1000, receivers };
  } catch (error) {
    return { recorded: false, reason: `Redis did not answer: ${(error as Error).message}` };
  }
}
