import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const EVENT_LOOP_LAG_SAMPLE_MS = 100;
/** Finer than the batch's: a wait of tens of microseconds (no contention) must show as such. */
const APPEND_LOCK_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** The figures DESIGN.md §6 asks /metrics for, in one registry per process. */
export class ParleyMetrics {
  readonly registry = new Registry();
  readonly relayedRecords = new Counter({ name: 'parley_relay_records_total', help: 'Outbox rows published by the relay', registers: [this.registry] });
  readonly relayLeader = new Gauge({ name: 'parley_relay_leader', help: '1 while this instance leads at least one relay partition, else 0', registers: [this.registry] });
  readonly relayPartitionsLed = new Gauge({ name: 'parley_relay_partitions_led', help: 'Ordering partitions whose relay this instance leads', registers: [this.registry] });
  readonly relayStepDowns = new Counter({
    name: 'parley_relay_step_downs_total',
    help: 'Times this instance gave the relay lead up because it could not publish',
    registers: [this.registry],
  });
  readonly outboxLag = new Gauge({ name: 'parley_outbox_lag_seconds', help: 'Age of the newest outbox row when the relay published it', registers: [this.registry] });
  readonly relayPartitionLag = new Gauge({
    name: 'parley_relay_partition_lag_seconds',
    help: 'Per ordering partition this instance leads: age of the newest outbox row of its last published page, when published',
    labelNames: ['partition'],
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'parley_delivery_latency_seconds',
    help: 'From the event (command time) to its frame being handed to the socket',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly framesSent = new Counter({ name: 'parley_frames_sent_total', help: 'Subscription frames sent', registers: [this.registry] });
  readonly connectedClients = new Gauge({ name: 'parley_connected_clients', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly receiverOverflows = new Counter({
    name: 'parley_receiver_overflows_total',
    help: 'Records not held because the receiver backlog was full (read from the outbox once it is through)',
    registers: [this.registry],
  });
  readonly receiverFills = new Counter({
    name: 'parley_receiver_fills_total',
    help: 'Times a receiver read a partition of its followed chats from the outbox because it could not prove it had every row',
    registers: [this.registry],
  });
  readonly redisPartitionsMoved = new Counter({
    name: 'parley_redis_partitions_moved_total',
    help: 'On a Redis Cluster: times a partition was subscribed anew, by reason (sunsubscribe: Redis dropped the subscription, as when a slot migrates or a master is demoted; new owner: the slots map moved it, as after a promotion; subscribe failed); each is then filled from the outbox',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly receiverEventsHeard = new Counter({
    name: 'parley_receiver_events_heard_total',
    help: 'Rows this receiver heard from Redis, by whether it needed them: a row of a chat it follows or a membership row (needed="no": heard for nothing)',
    labelNames: ['needed'],
    registers: [this.registry],
  });
  readonly writeBatchCommands = new Histogram({
    name: 'parley_write_batch_commands',
    help: 'Commands per write transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly writeBatchSeconds = new Histogram({
    name: 'parley_write_batch_seconds',
    help: 'Duration of a write transaction, from taking a connection to the commit',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly writeCommandSeconds = new Histogram({
    name: 'parley_write_command_seconds',
    help: 'Per command committed (a mutation that wrote): from its arrival at the write queue to its commit, the wait for a batch included',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Per batch (DESIGN.md §3 "Commit order"): whether the lock, not the CPU, limits writes. */
  readonly appendLockWaitSeconds = new Histogram({
    name: 'parley_append_lock_wait_seconds',
    help: 'Per write transaction, the time from its first statement reaching PostgreSQL to the append lock granted',
    buckets: APPEND_LOCK_BUCKETS,
    registers: [this.registry],
  });
  readonly appendLockHoldSeconds = new Histogram({
    name: 'parley_append_lock_hold_seconds',
    help: 'Per write transaction, the time from the append lock granted to its commit answered',
    buckets: APPEND_LOCK_BUCKETS,
    registers: [this.registry],
  });
  readonly writeRetries = new Counter({
    name: 'parley_write_retries_total',
    help: 'Write transactions run again after a serialisation failure, deadlock or version conflict',
    registers: [this.registry],
  });
  readonly writeSessionsLost = new Counter({
    name: 'parley_write_sessions_lost_total',
    help: 'Write batches whose database session ended or went silent, by what became of them (committed, not committed, unknown)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly outboxPrunedRows = new Counter({
    name: 'parley_outbox_pruned_rows_total',
    help: 'Outbox rows older than OUTBOX_RETENTION that this instance\'s background pruner deleted',
    registers: [this.registry],
  });
  readonly droppedSlowClients = new Counter({ name: 'parley_dropped_slow_clients_total', help: 'Connections closed because their send buffer was full', registers: [this.registry] });
  readonly presenceTransitions = new Counter({
    name: 'parley_presence_transitions_total',
    help: 'Online/offline transitions this receiver announced (its own users, and those of receivers it swept)',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });

  constructor() {
    // prom-client samples event-loop lag with a timer every 10 ms by default: 100 wake-ups a second,
    // most of an idle receiver's CPU (4 ms/s, about 40 us of every event at 100 events/s). Every
    // 100 ms still sees any stall longer than that.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_LAG_SAMPLE_MS });
  }
}
