import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { partitionSlot } from '../../../../src/application/realtime/feed-channels';
import { eventually } from '../../../support/eventually';
import type { ClusterNodeInfo } from '../../../support/redis-cluster';
import type { ChaosCluster, Instance } from '../cluster';
import { LIVENESS_BOUND_MS, OVERTIME_MS, type Measure } from '../liveness';
import { hold, type Fault, type FaultContext } from './fault';
import { postWhile } from './process-faults';

/**
 * Faults of a Redis Cluster's nodes (cluster mode only): a master SIGKILLed, a manual failover, a
 * partition's slot migrated in place, a master cut off. Each strikes the master of the busiest chat's
 * partition while the workload runs, two posters keep posting to chats of that master's partitions (its
 * publishes are in flight) and a probe stream posts to the probe chat of the partition every 200 ms;
 * every stream post must then reach every receiver, once and in order. The receivers' logs and
 * /metrics say when they subscribed the partitions anew, why, and when they filled them from the outbox.
 */
const ONLY_ON_A_CLUSTER = { redis: 'cluster' as const, reason: 'a fault of a Redis Cluster\'s nodes: needs CHAOS_REDIS=cluster' };
/** The probe stream's pause between two posts. */
const STREAM_PAUSE_MS = 200;
/** Each of the two posters' pause between two posts to the target's chats (about 20 posts a second in all). */
const POSTER_PAUSE_MS = 75;
/** Stream posts answered before the fault strikes: the partition's publishes are in flight. */
const STREAM_BEFORE = 3;
/** A fault over in a moment (a failover, a migration) has the stream go on this long after it, so that posts straddle it. */
const STREAM_AFTER_MS = 1000;
/** A readiness probe in flight when the partition ends must not outlast it: stop watching this much before. */
const WATCH_MARGIN_MS = 2500;
/** Log messages of a receiver (matched anywhere in the line: see `ChaosCluster.logEvents`). */
const RESUBSCRIBED = /Redis Cluster: partitions subscribed anew/;
const FILLED = /read a partition from the outbox up to its tick/;
const SILENT = /no progress tick from a followed partition/;
const STALE = /Redis Cluster subscriber for \S+ is stale \(no probe of partition (\d+) came back\)/;
/** parley_redis_partitions_moved_total by reason (sunsubscribe, new owner, subscribe failed, silent, …: whatever the receiver counts). */
type MovedCounts = Record<string, number>;
const MOVED_METRIC = /^parley_redis_partitions_moved_total\{reason="([^"]+)"\} (\S+)$/gm;

const DELIVERY_BOUND = (after: string) => ({ ms: LIVENESS_BOUND_MS, name: `delivery not resumed within 10 s of ${after}` });
const STREAM_BOUND = (after: string) => ({ ms: LIVENESS_BOUND_MS, name: `events published during the fault not all delivered within 10 s of ${after}` });

/** The master a fault strikes: it serves the busiest chat's partition (and perhaps others). */
interface Target {
  master: ClusterNodeInfo;
  /** The busiest chat's partition (on `master`). */
  partition: number;
  /** Every partition `master` serves. */
  partitions: number[];
  /** The workload's chats in those partitions, busiest first. */
  chats: string[];
}

export const CLUSTER_FAULTS: Fault[] = [
  {
    // The issue: after a master is killed, delivery resumes within 10 s of the promotion, and every event published meanwhile arrives.
    name: 'redis-master-kill',
    only: ONLY_ON_A_CLUSTER,
    async inject(context) {
      const { cluster, liveness, observe } = context;
      const target = await busyMaster(context, true);
      if (!target) return observe('no master serving a partition of the workload has a replica left: nothing to kill');
      const traffic = await Traffic.start(context, target);
      let promotion: Awaited<ReturnType<ChaosCluster['redisCluster']['killMaster']>>;
      let killedAt: number;
      let promotedAt: number;
      try {
        killedAt = Date.now();
        promotion = await cluster.redisCluster.killMaster(target.master);
        promotedAt = Date.now();
      } finally {
        await traffic.end();
      }
      const electedAt = electionWon(cluster, promotion.newMaster, killedAt);
      if (electedAt !== null) liveness.note({ what: 'replica won the election after the SIGKILL', ms: electedAt - killedAt, detail: `"Failover election won" in the log of ${node(promotion.newMaster)}`, column: 'fault' });
      liveness.note({ what: 'every node agreed on the promotion after the SIGKILL', ms: promotion.promotedAfterMs, detail: `${node(promotion.newMaster)} serves ${describeSlots(target)}; the times below "from the promotion" are from here`, ...(electedAt === null ? { column: 'fault' as const } : {}) });
      await Promise.all([
        liveness.delivers('delivery resumed after the promotion', promotedAt, target.partition, LIVENESS_BOUND_MS + OVERTIME_MS, DELIVERY_BOUND('the promotion')),
        liveness.streamArrived('every probe post made from before the SIGKILL to the promotion arrived (from the promotion)', traffic.streamIds, promotedAt, target.partition, STREAM_BOUND('the promotion')),
      ]);
      await traffic.report(killedAt, 'the SIGKILL', promotedAt, 'the promotion');
      await settle(context);
      observe(`SIGKILL master ${node(target.master)} (${describeSlots(target)}) with ${traffic.describe()}; its replica ${node(promotion.newMaster)} promoted `
        + `${promotion.promotedAfterMs} ms later; the killed node stays down; masters now ${await cluster.describeRedisCluster()}`);
    },
  },
  {
    name: 'redis-master-failover',
    only: ONLY_ON_A_CLUSTER,
    async inject(context) {
      const { cluster, liveness, observe } = context;
      const target = await busyMaster(context, true);
      if (!target) return observe('no master serving a partition of the workload has a replica: no failover');
      const traffic = await Traffic.start(context, target);
      let result: Awaited<ReturnType<ChaosCluster['redisCluster']['failover']>>;
      let since: number;
      let doneAt: number;
      try {
        since = Date.now();
        result = await cluster.redisCluster.failover(target.master);
        doneAt = Date.now();
      } catch (error) {
        await traffic.end();
        throw error;
      }
      liveness.note({ what: 'CLUSTER FAILOVER done', ms: result.tookMs, detail: `${node(result.newMaster)} serves ${describeSlots(target)}, ${node(result.formerMaster)} is its replica (as every node agreed)`, column: 'fault' });
      await Promise.all([
        liveness.delivers('delivery resumed after the failover', doneAt, target.partition, LIVENESS_BOUND_MS + OVERTIME_MS, DELIVERY_BOUND('the failover')),
        traffic.end(STREAM_AFTER_MS).then(() => liveness.streamArrived('every probe post made from before the failover to 1 s after it arrived (from the last one)', traffic.streamIds, traffic.endedAt, target.partition, STREAM_BOUND('the failover'))),
      ]);
      await traffic.report(since, 'CLUSTER FAILOVER', doneAt, 'the swap');
      await settle(context);
      observe(`CLUSTER FAILOVER on ${node(result.newMaster)}, replica of ${node(target.master)} (${describeSlots(target)}), with ${traffic.describe()}; `
        + `swapped in ${result.tookMs} ms; masters now ${await cluster.describeRedisCluster()}`);
    },
  },
  {
    // The issue: migrate the slot of a partition with live traffic, and show that Parley saw the sunsubscribe and caught up.
    name: 'redis-slot-migrate',
    only: ONLY_ON_A_CLUSTER,
    async inject(context) {
      const { cluster, liveness, rng, observe } = context;
      const target = await busyMaster(context, false);
      if (!target) return observe('no partition has chats of the workload: nothing to migrate');
      const to = rng.pick((await cluster.redisCluster.masters()).filter((master) => master.id !== target.master.id));
      const slot = partitionSlot(target.partition);
      const traffic = await Traffic.start(context, { ...target, partitions: [target.partition] });
      let keysMoved: number;
      let since: number;
      let doneAt: number;
      try {
        since = Date.now();
        ({ keysMoved } = await cluster.redisCluster.migrateSlot(slot, to));
        doneAt = Date.now();
      } catch (error) {
        await traffic.end();
        throw error;
      }
      liveness.note({ what: 'slot migrated', ms: doneAt - since, detail: `slot ${slot} (partition ${target.partition}) from ${node(target.master)} to ${node(to)}, ${keysMoved} keys moved (until every node agreed)`, column: 'fault' });
      await Promise.all([
        liveness.delivers('delivery resumed after the migration', doneAt, target.partition, LIVENESS_BOUND_MS + OVERTIME_MS, DELIVERY_BOUND('the migration')),
        traffic.end(STREAM_AFTER_MS).then(() => liveness.streamArrived('every probe post made from before the migration to 1 s after it arrived (from the last one)', traffic.streamIds, traffic.endedAt, target.partition, STREAM_BOUND('the migration'))),
      ]);
      const counted = await traffic.report(since, 'the migration\'s start', doneAt, 'every node agreeing');
      // Every receiver follows the partition (each has a probe subscriber in it): each must have subscribed it anew.
      const missed = [...counted].filter(([, delta]) => Object.values(delta).every((n) => n === 0)).map(([name]) => name);
      if (missed.length) liveness.broken('a receiver did not subscribe a migrated partition anew', `${missed.join(', ')}: parley_redis_partitions_moved_total did not grow after slot ${slot} of partition ${target.partition} moved`);
      await settle(context);
      const sawSunsubscribe = [...counted].filter(([, delta]) => (delta.sunsubscribe ?? 0) > 0).map(([name]) => name);
      const others = [...counted].filter(([name]) => !sawSunsubscribe.includes(name))
        .map(([name, delta]) => `${name} counted ${Object.entries(delta).filter(([, n]) => n).map(([r, n]) => `${r} +${n}`).join(', ') || 'nothing'}`);
      observe(`slot ${slot} of partition ${target.partition} migrated in place from ${node(target.master)} to ${node(to)} (${keysMoved} keys) with ${traffic.describe()}; `
        + `the unrequested sunsubscribe counted by ${sawSunsubscribe.join(', ') || 'no receiver'}${others.length ? ` (${others.join('; ')} instead: a slots map refreshed between the SETSLOTs shows the new owner before the push comes)` : ''}; `
        + `masters now ${await cluster.describeRedisCluster()}`);
    },
  },
  {
    // A master cut off without a FIN: its proxy stops forwarding, connections stay open. The cluster bus is
    // direct, so the cluster sees the node alive and it stays master: the clients must recover when it is back.
    name: 'redis-master-blackhole',
    only: ONLY_ON_A_CLUSTER,
    async inject(context) {
      const { cluster, liveness, rng, partitionMs, observe } = context;
      const target = await busyMaster(context, false);
      if (!target) return observe('no partition has chats of the workload: nothing to cut off');
      const other = Array.from({ length: 4 }, (_, p) => p).find((p) => !target.partitions.includes(p));
      const lengthMs = rng.int(...partitionMs);
      const traffic = await Traffic.start(context, target);
      const since = Date.now();
      cluster.blackholeNode(target.master);
      let healedAt: number;
      try {
        const watchMs = lengthMs - WATCH_MARGIN_MS;
        const watches = [liveness.timesNotReady([...cluster.alive('receiver'), ...cluster.alive('relay')], since, watchMs)];
        // Partitions on the other masters go on.
        if (other !== undefined) watches.push(liveness.goesOn(`master ${node(target.master)} blackholed, partition ${other} elsewhere`, watchMs, { partition: other }));
        // The partition's length is the fault itself, not a wait for an effect.
        await hold(since + lengthMs - Date.now());
        await Promise.all(watches);
      } finally {
        cluster.restoreNode(target.master);
        healedAt = Date.now();
        await traffic.end();
      }
      const noticed = (pattern: RegExp, partitionOf: (e: { msg: string; fields: Record<string, unknown> }) => number) => firstPerReceiver(
        cluster.alive('receiver'),
        cluster.logEvents(cluster.alive('receiver'), since, pattern).filter((e) => e.time <= healedAt && target.partitions.includes(partitionOf(e))),
        since,
      );
      liveness.note({ what: 'master cut off', ms: healedAt - since, detail: `${node(target.master)} blackholed at its proxy`, column: 'fault' });
      const silent = noticed(SILENT, (e) => Number(e.fields.partition));
      liveness.note({ what: 'receivers noticed by the tick timeout (from the blackhole)', ms: silent.ms, detail: `"no progress tick" of partitions ${target.partitions.join(',')}: ${silent.detail}`, column: 'noticed' });
      const stale = noticed(STALE, (e) => Number(STALE.exec(e.msg)?.[1]));
      liveness.note({ what: 'receivers that found their subscriber connection stale by its own probes (from the blackhole)', ms: stale.ms, detail: (stale.detail ?? '').replace(/\bnever\b/g, 'none logged') });
      await Promise.all([
        liveness.recovered(healedAt, undefined, target.partition),
        liveness.streamArrived('every probe post made while the master was cut off arrived (from its return)', traffic.streamIds, healedAt, target.partition, STREAM_BOUND('the node coming back')),
      ]);
      await traffic.report(since, 'the blackhole', healedAt, 'the node coming back', { reconnectOnly: true });
      await settle(context);
      observe(`master ${node(target.master)} (${describeSlots(target)}) blackholed at its proxy for ${healedAt - since} ms (connections left open, the cluster bus direct), then forwarding again; `
        + `with ${traffic.describe()}; masters now ${await cluster.describeRedisCluster()}`);
    },
  },
];

/**
 * The master of the busiest chat's partition (the next busiest's when `needsReplica` and it has none),
 * with every partition it serves and the workload's chats in them.
 */
async function busyMaster({ cluster, workload }: FaultContext, needsReplica: boolean): Promise<Target | null> {
  const chats = [...workload.chats.values()].sort((a, b) => b.messages.length - a.messages.length || a.id.localeCompare(b.id));
  const placed = await cluster.partitionsOf(chats.map((chat) => chat.id));
  for (const chat of chats) {
    const partition = placed.get(chat.id);
    if (partition === undefined) continue;
    const master = await cluster.masterOf(partition);
    if (needsReplica && master.replicas.length === 0) continue;
    const partitions = cluster.partitionsOn(master);
    return { master, partition, partitions, chats: chats.map((c) => c.id).filter((id) => partitions.includes(placed.get(id)!)) };
  }
  return null;
}

/** What a cluster fault keeps in flight, and reads back from the receivers afterwards. */
class Traffic {
  streamIds: string[] = [];
  /** When the stream and the posters stopped. */
  endedAt = 0;
  private ending: Promise<void> | null = null;

  private constructor(
    private readonly context: FaultContext,
    private readonly target: Target,
    private readonly posting: ReturnType<typeof postWhile>,
    private readonly stream: ReturnType<FaultContext['probe']['stream']>,
    private readonly before: Map<string, MovedCounts>,
  ) {}

  /** Two posters on the target's busiest chats and a probe stream on its partition, once a few stream posts were answered. */
  static async start(context: FaultContext, target: Target): Promise<Traffic> {
    const before = await movedCounts(context.cluster);
    const posting = postWhile(target.chats.slice(0, 2), context.workload, POSTER_PAUSE_MS);
    const stream = context.probe.of(target.partition).stream(STREAM_PAUSE_MS);
    const traffic = new Traffic(context, target, posting, stream, before);
    try {
      await eventually(() => {
        if (stream.posted() < STREAM_BEFORE) throw new Error(`only ${stream.posted()} probe posts answered before the fault`);
      }, 20_000);
    } catch (error) {
      await traffic.end();
      throw error;
    }
    return traffic;
  }

  /** Stops the probe stream and the posters, `afterMs` after the fault's end (once): what the stream posted must all arrive. */
  end(afterMs = 0): Promise<void> {
    this.ending ??= (async () => {
      // The traffic's length past the fault is part of the fault, not a wait for an effect.
      await hold(afterMs);
      [this.streamIds] = await Promise.all([this.stream.stop(), this.posting.stop()]);
      this.endedAt = Date.now();
    })();
    return this.ending;
  }

  describe(): string {
    return `${this.posting.posted()} workload posts to ${this.target.chats.slice(0, 2).map((c) => c.slice(0, 8)).join(', ') || 'no chat'} and ${this.streamIds.length} probe posts to partition ${this.target.partition} in flight around it`;
  }

  /**
   * Stops the posters, then reads from the receivers' logs when each subscribed the partitions anew and
   * filled them from the outbox (timed from `since`, the fault's start, and shown from `end` too), and
   * from their /metrics how many re-subscriptions each counted and why. Answers the counters' growth per receiver.
   */
  async report(since: number, start: string, end: number, endName: string, options: { reconnectOnly?: boolean } = {}): Promise<Map<string, MovedCounts>> {
    const { cluster, liveness } = this.context;
    await this.end();
    const receivers = cluster.alive('receiver');
    // The fills follow the first tick after the resubscription: give them until the probes above have arrived, and a moment.
    let fills = firstFills(cluster, receivers, since, this.target.partitions);
    for (let i = 0; i < 20 && fills.some((f) => f.missing.length > 0); i++) {
      await hold(250);
      fills = firstFills(cluster, receivers, since, this.target.partitions);
    }
    const resubscribed = firstPerReceiver(receivers, cluster.logEvents(receivers, since, RESUBSCRIBED), since, (e) => `${e.fields.reason}, ${e.fields.partitions} partition${e.fields.partitions === 1 ? '' : 's'}, ${sign(e.time - end)} from ${endName}`);
    if (options.reconnectOnly) {
      // The node stays master: a receiver that renews its partitions while their ticks are missing logs it (reason
      // `silent`), but one whose connection to that master was replaced subscribes again on the new connection
      // without a line; the fills below are the catch-up either way.
      liveness.note({
        ...resubscribed,
        what: `receivers subscribed the partitions anew (from ${start}; a connection replaced on the same master logs no line)`,
        ...(resubscribed.ms === null ? {} : { column: 'resubscribed' as const }),
      });
    } else {
      liveness.note({ ...resubscribed, what: `every receiver subscribed the partitions anew (from ${start})`, column: 'resubscribed' });
    }
    const filled: Measure = {
      what: `every receiver filled partitions ${this.target.partitions.join(',')} from the outbox (from ${start})`,
      ms: fills.some((f) => f.missing.length) ? null : Math.max(...fills.map((f) => f.lastAt - since)),
      detail: fills.map((f) => `${f.name} ${f.filled.map((x) => `p${x.partition} ${sign(x.at - since)} (${sign(x.at - end)} from ${endName}, ${x.rows} rows)`).join(', ') || '-'}${f.missing.length ? ` never p${f.missing.join(',p')}` : ''}`).join('; '),
      column: 'filled',
    };
    liveness.note(filled);
    const now = await movedCounts(cluster);
    const delta = new Map([...now].map(([name, counts]) => [name, Object.fromEntries(Object.entries(counts).map(([r, n]) => [r, n - (this.before.get(name)?.[r] ?? 0)])) as MovedCounts]));
    liveness.note({
      what: 'parley_redis_partitions_moved_total growth',
      ms: null,
      detail: [...delta].map(([name, d]) => `${name} ${Object.entries(d).filter(([, n]) => n).map(([r, n]) => `${r} +${n}`).join(', ') || 'none'}`).join('; '),
    });
    return delta;
  }
}

/** Each live receiver's parley_redis_partitions_moved_total by reason. */
async function movedCounts(cluster: ChaosCluster): Promise<Map<string, MovedCounts>> {
  const receivers = cluster.alive('receiver');
  const counts = await Promise.all(receivers.map(async (receiver) => {
    const text = await cluster.metricsText(receiver);
    return [receiver.name, Object.fromEntries([...text.matchAll(MOVED_METRIC)].map((m) => [m[1]!, Number(m[2])])) as MovedCounts] as const;
  }));
  return new Map(counts);
}

/** Per receiver, its first fill of each of `partitions` since `since`. */
function firstFills(cluster: ChaosCluster, receivers: Instance[], since: number, partitions: number[]) {
  const events = cluster.logEvents(receivers, since, FILLED);
  return receivers.map((receiver) => {
    const filled = partitions.flatMap((partition) => {
      const first = events.find((e) => e.instance === receiver.name && Number(e.fields.partition) === partition);
      return first ? [{ partition, at: first.time, rows: Number(first.fields.rows) }] : [];
    });
    return { name: receiver.name, filled, missing: partitions.filter((p) => !filled.some((f) => f.partition === p)), lastAt: Math.max(0, ...filled.map((f) => f.at)) };
  });
}

/** The first of `events` per receiver, timed from `reference` (negative: before it); `ms` is the last receiver's. */
function firstPerReceiver(receivers: Instance[], events: { instance: string; time: number; msg: string; fields: Record<string, unknown> }[], reference: number, describe?: (e: { time: number; msg: string; fields: Record<string, unknown> }) => string): Measure {
  const firsts = receivers.map((receiver) => ({ name: receiver.name, event: events.find((e) => e.instance === receiver.name) }));
  const all = firsts.every((f) => f.event);
  return {
    what: '',
    ms: all ? Math.max(...firsts.map((f) => f.event!.time - reference)) : null,
    detail: firsts.map((f) => `${f.name} ${f.event ? `${sign(f.event.time - reference)}${describe ? ` (${describe(f.event)})` : ''}` : 'never'}`).join(', '),
  };
}

/** When the promoted replica logged "Failover election won" (its log's clock is this machine's), or null. */
function electionWon(cluster: ChaosCluster, replica: ClusterNodeInfo, since: number): number | null {
  try {
    const log = readFileSync(join(cluster.redisCluster.dir, `${replica.realPort}.log`), 'utf8');
    const times = log.split('\n').filter((line) => line.includes('Failover election won'))
      .map((line) => Date.parse(/ (\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) /.exec(line)?.[1] ?? ''))
      .filter((time) => Number.isFinite(time) && time >= since - 1000);
    return times.at(-1) ?? null;
  } catch {
    return null;
  }
}

/** After a cluster fault: the cluster whole, every process ready, every partition led. */
async function settle({ cluster }: FaultContext): Promise<void> {
  await cluster.redisClusterWhole();
  await cluster.allReady(60_000);
  await cluster.allPartitionsLed();
}

function sign(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${ms} ms`;
}

function node(info: ClusterNodeInfo): string {
  return `:${info.port}`;
}

function describeSlots(target: Target): string {
  return `partitions ${target.partitions.join(',')}, among them ${target.partition} of the busiest chat`;
}
