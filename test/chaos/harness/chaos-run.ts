import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenFor } from '../../support/test-server';
import { Oracle, type Failure } from '../oracle/oracle';
import { Api } from './api';
import { tryBadSubscriptions } from './bad-subscriptions';
import { ChaosCluster, PARTITIONS } from './cluster';
import { chooseFaults, isSlow, type Fault, type SkippedFault } from './faults';
import { Liveness, type Measure } from './liveness';
import { DeliveryProbe } from './probe';
import { Prng } from './prng';
import type { ChaosProfile, ChaosRun } from './profile';
import { formatFailure, formatMeasure, formatReport, type RoundReport, type RunReport } from './report';
import { UserSession, type ClientNote, type SessionEvents } from './resuming-client';
import { Workload } from './workload';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const STRANGER = 'mallory';
/** Chats created beyond one per user, at most, to spread every user's chats over partitions of both relays. */
const MAX_SPREADING_CHATS = 8;

/** Each user's home receiver: users spread over the three, so a chat's users are on different receivers. */
function homeReceiver(index: number): string {
  return `receiver-${(index % 3) + 1}`;
}

/**
 * One seed on one kind of Redis: a fresh cluster, users spread over the receivers, chats spread over
 * partitions led by different relays, a calm round and then each fault in turn while the workload runs,
 * with the oracle's verdict after each round. On a Redis Cluster the delivery probe has a chat in every
 * partition, so that a fault on one master is measured on a partition that master serves.
 */
export async function runChaos(run: ChaosRun, profile: ChaosProfile, progress: (line: string) => void = () => undefined): Promise<RunReport> {
  const { seed } = run;
  const began = Date.now();
  const rng = new Prng(seed);
  const users = USERS.slice(0, profile.users);
  const tokens = new Map(await Promise.all([...users, STRANGER].map(async (u) => [u, await tokenFor(u, '2h')] as const)));
  const cluster = await ChaosCluster.start(`seed-${seed}${run.redis === 'cluster' ? '-cluster' : ''}`, run.redis);
  const sessions = new Map<string, UserSession>();
  const notes: ClientNote[] = [];
  const rounds: RoundReport[] = [];
  let skipped: SkippedFault[] = [];
  let rerunFaults: string[] | null = null;
  let oracle: Oracle | null = null;
  let workload: Workload | null = null;
  let probe: DeliveryProbe | null = null;
  let logs: string | null = null;
  let reportFile: string | null = null;
  /** A harness or cluster step that threw: the run still reports, with its seed, what it saw until then. */
  const errors: Failure[] = [];
  try {
    const api = new Api(cluster);
    const events: SessionEvents = {
      chatAdded(session, chat) {
        // Every other user also watches each chat live only (no `after`): it must never see what it may not.
        const live = users.indexOf(session.userId) % 2 === 0;
        for (const key of [`messageAdded:${chat.id}`, ...(live ? [`messageAddedLive:${chat.id}`] : [])]) {
          const tracked = session.subscriptions.get(key);
          if (!tracked) session.watchChat(chat.id, chat.cursor, key.startsWith('messageAddedLive'));
          else if (tracked.state === 'dormant') session.revive(tracked);
        }
      },
      note: (note) => notes.push(note),
    };
    const { head } = await api.read(tokens.get(users[0]!)!, '{ head }');
    users.forEach((user, i) => {
      const session = new UserSession(user, tokens.get(user)!, cluster, events, homeReceiver(i));
      sessions.set(user, session);
      session.start(head);
    });
    await Promise.all([...sessions.values()].map((s) => s.whenConnected()));

    workload = new Workload(rng.fork('workload'), api, { users, stranger: STRANGER, maxChats: profile.maxChats, tokens, runId: `s${seed}`, avoidKnownDefects: profile.avoidKnownDefects });
    oracle = new Oracle(cluster, api, sessions, tokens, workload);
    await workload.seedChats();
    progress(`seed ${seed}: ${await spreadOverPartitions(cluster, workload, users)}`);
    await tryBadSubscriptions(cluster, workload, tokens, STRANGER);
    probe = await DeliveryProbe.create(cluster, api);
    if (run.redis === 'cluster') {
      await probe.coverPartitions(api, PARTITIONS);
      progress(`seed ${seed}: Redis Cluster masters ${await cluster.describeRedisCluster()}; a probe chat in each partition`);
    }

    const choice = chooseFaults(profile.name, profile.faults, rng.fork('faults'), run);
    const faults = choice.faults;
    skipped = choice.skipped;
    if (run.clusterFaultsOnly && !profile.faults) rerunFaults = faults.map((f) => f.name);
    for (const skip of skipped) progress(`seed ${seed}: not run on ${run.redis === 'cluster' ? 'a Redis Cluster' : 'one Redis'}: ${skip.name} (${skip.reason})`);
    const budgetMs = profile.budgetMs + faults.filter(isSlow).length * profile.slowFaultBudgetMs;
    const all = [null, ...faults];
    progress(`seed ${seed}: rounds ${all.map((f) => f?.name ?? 'calm').join(', ')}`);
    for (const [index, fault] of all.entries()) {
      const name = fault?.name ?? 'calm';
      // Only a run that already failed is cut short: a slow green run on a busy machine is not a failure.
      if (oracle.failures.length > 0 && Date.now() - began > budgetMs) {
        const skipped = all.slice(index).map((f) => f?.name ?? 'calm');
        oracle.failures.push({ kind: 'run over its time budget', detail: `${budgetMs} ms gone; rounds not run: ${skipped.join(', ')}`, round: name });
        break;
      }
      progress(`seed ${seed}: round ${name}`);
      rounds.push(await round(name, fault, { cluster, sessions, workload, oracle, probe, profile, rng: rng.fork(name) }));
      const done = rounds.at(-1)!;
      progress(`seed ${seed}: round ${name} done in ${done.durationMs} ms (quiet ${done.caughtUp ? 'after' : 'NOT within'} ${done.quiesceMs} ms), ${done.newFailures} new failures; messageAdded delay p50 ${done.delayMs.p50} ms, max ${done.delayMs.max} ms`);
      for (const line of done.observed) progress(`  observed: ${line}`);
      for (const measure of done.measures) progress(`  measured: ${formatMeasure(measure)}`);
      for (const f of oracle.failures.slice(oracle.failures.length - done.newFailures)) progress(`  FAILURE ${formatFailure(f).slice(0, 600)}`);
    }
  } catch (error) {
    errors.push({ kind: 'the run could not go on', detail: (error as Error).stack ?? String(error), round: rounds.length ? `after ${rounds.at(-1)!.name}` : 'setup' });
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close()));
    await probe?.close();
    const failed = errors.length > 0 || (oracle?.failures.length ?? 1) > 0;
    if (failed || process.env.CHAOS_KEEP_LOGS) logs = cluster.saveLogs();
    await cluster.stop().catch((error: unknown) => errors.push({ kind: 'the cluster did not stop cleanly', detail: String(error), round: 'teardown' }));
  }
  const report: RunReport = {
    seed,
    profile: profile.name,
    redis: run.redis,
    skipped,
    rerunFaults,
    rounds,
    failures: [...(oracle?.failures ?? []), ...errors],
    outcomes: workload?.outcomes ?? new Map(),
    notes,
    resumes: [...sessions.values()].reduce((sum, s) => sum + [...s.subscriptions.values()].reduce((n, t) => n + t.starts.length - 1, 0), 0),
    logs,
    reportFile,
  };
  if (logs) {
    reportFile = join(logs, 'report.txt');
    writeFileSync(reportFile, formatReport(report));
    report.reportFile = reportFile;
  }
  return report;
}

interface RoundContext {
  cluster: ChaosCluster;
  sessions: Map<string, UserSession>;
  workload: Workload;
  oracle: Oracle;
  probe: DeliveryProbe;
  profile: ChaosProfile;
  rng: Prng;
}

async function round(name: string, fault: Fault | null, context: RoundContext): Promise<RoundReport> {
  const { cluster, sessions, workload, oracle, probe, profile, rng } = context;
  const started = Date.now();
  const before = oracle.failures.length;
  const operations = workload.completed;
  const observed: string[] = [];
  const measures: Measure[] = [];
  workload.round = oracle.round = name;
  rebalance(cluster, sessions);
  await Promise.all([...sessions.values()].map((s) => s.whenConnected()));
  const liveness = new Liveness(cluster, probe, {
    measure: (measure) => measures.push(measure),
    breach: (bound, detail) => oracle.failures.push({ kind: `liveness: ${bound}`, detail, round: name }),
  });

  const third = Math.floor(profile.opsPerRound / 3);
  if (!fault) {
    await workload.run(profile.opsPerRound, profile.concurrency);
  } else {
    await workload.run(third, profile.concurrency);
    await liveness.baseline();
    const during = workload.start(profile.concurrency, profile.thinkMs);
    try {
      await fault.inject({
        cluster, workload, sessions, rng, liveness, probe,
        opsDuringFault: profile.opsDuringFault, freezeMs: profile.freezeMs, partitionMs: profile.partitionMs,
        observe: (note) => observed.push(note),
      });
    } catch (error) {
      oracle.failures.push({ kind: 'fault did not heal', detail: `${name}: ${(error as Error).stack ?? (error as Error).message}`, round: name });
      // Before the workload is told to stop: its requests may be waiting on what the fault left hurt.
      observed.push(`the harness healed after the fault failed: ${(await heal(cluster)).join(', ') || 'nothing left hurt'}`);
    } finally {
      await during.stop();
    }
    for (const exit of cluster.takeExits()) oracle.failures.push({ kind: 'a process exited on its own', detail: exit, round: name });
    const healed = await heal(cluster);
    if (healed.length) observed.push(`the harness had to heal what the fault left: ${healed.join(', ')}`);
    await workload.run(third, profile.concurrency);
  }
  await cluster.allReady(60_000);
  await Promise.all([...sessions.values()].map((s) => s.whenConnected()));
  const quiet = Date.now();
  const verdict = await oracle.check(profile.quiesceTimeoutMs);
  return {
    name,
    observed,
    operations: workload.completed - operations,
    durationMs: Date.now() - started,
    quiesceMs: Date.now() - quiet,
    caughtUp: verdict.caughtUp,
    newFailures: oracle.failures.length - before,
    checked: { ...oracle.stats },
    delayMs: deliveryDelays(sessions, started),
    measures,
    failureKinds: [...new Set(oracle.failures.slice(before).map((f) => f.kind))],
  };
}

function deliveryDelays(sessions: Map<string, UserSession>, since: number): RoundReport['delayMs'] {
  const delays = [...sessions.values()]
    .flatMap((s) => [...s.subscriptions.values()].filter((t) => t.field === 'messageAdded'))
    .flatMap((t) => t.items.filter((i) => i.receivedAt >= since).map((i) => i.receivedAt - Date.parse(i.createdAt)))
    .sort((a, b) => a - b);
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0;
  return { count: delays.length, p50: at(0.5), p99: at(0.99), max: delays.at(-1) ?? 0 };
}

/**
 * Chats sit in partitions by a hash of their server-made id, so the harness cannot choose them: it makes
 * more chats (each by a user whose chats are all under one relay) until every user is in chats of
 * partitions led by different relays, so that those partitions overtake one another on the user's
 * user-scoped subscriptions. Answers where the chats landed.
 */
async function spreadOverPartitions(cluster: ChaosCluster, workload: Workload, users: string[]): Promise<string> {
  const leads = await cluster.partitionsShared();
  const leaderOf = new Map(leads.map((lead) => [lead.partition, lead.relay!.name]));
  let placed = new Map<string, number>();
  const unspread = () => users.filter((user) => {
    const relays = new Set([...workload.chats.keys()].filter((c) => workload.participantsOf(c).includes(user)).map((c) => leaderOf.get(placed.get(c)!)));
    return relays.size < 2;
  });
  for (let extra = 0; ; extra++) {
    placed = await cluster.partitionsOf([...workload.chats.keys()]);
    const lonely = unspread();
    if (lonely.length === 0 || extra >= MAX_SPREADING_CHATS) {
      const where = [...placed].map(([chat, p]) => `${chat.slice(0, 8)}@p${p}(${leaderOf.get(p)})`).join(' ');
      return `${workload.chats.size} chats: ${where}${lonely.length ? `; still under one relay only: ${lonely.join(', ')}` : ''}`;
    }
    await workload.addChat(lonely[0]!);
  }
}

/** Clients back on their home receivers (a moved client resumes with its cursors, which is exercised too). */
function rebalance(cluster: ChaosCluster, sessions: Map<string, UserSession>): void {
  [...sessions.values()].forEach((session, i) => {
    const target = homeReceiver(i);
    if (session.receiver !== target && cluster.instance(target).alive) session.moveTo(target);
  });
}

/**
 * After each fault, and above all after one that failed half-way: nothing blackholed, stopped,
 * frozen or dead before the next one starts. Answers what it had to heal.
 */
async function heal(cluster: ChaosCluster): Promise<string[]> {
  const healed = cluster.links.healAll().map((link) => `link ${link}`);
  if (!cluster.postgres.running) {
    await cluster.startPostgres();
    healed.push('PostgreSQL started');
  }
  if (cluster.redisMode === 'cluster') {
    healed.push(...cluster.restoreAllNodes());
    // A killed master is not started again (its replica serves its slots): the cluster must agree and serve every slot.
    const trouble = await cluster.redisClusterTrouble();
    if (trouble) {
      await cluster.redisClusterWhole();
      healed.push(`waited for the Redis Cluster to be whole again (${trouble})`);
    }
  } else if (!(await cluster.redisAnswers())) {
    await cluster.redis.start();
    healed.push('Redis started');
  }
  for (const instance of cluster.instances.values()) {
    if (instance.paused) {
      cluster.resume(instance.name);
      healed.push(`${instance.name} thawed`);
    }
    if (!instance.alive) {
      await cluster.restart(instance.name);
      healed.push(`${instance.name} started`);
    }
  }
  return healed;
}
