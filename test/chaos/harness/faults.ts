import { eventually } from '../../support/eventually';
import type { ChaosCluster } from './cluster';
import type { Prng } from './prng';
import type { UserSession } from './resuming-client';
import type { Workload } from './workload';

export interface FaultContext {
  cluster: ChaosCluster;
  workload: Workload;
  sessions: Map<string, UserSession>;
  rng: Prng;
  /** Operations to let through while the fault lasts. */
  opsDuringFault: number;
  /** How long a frozen relay leader stays frozen. */
  freezeMs: number;
  /** What was seen, for the report. */
  observe(note: string): void;
}

/**
 * The faults of issue 7, one at a time, each injected while the workload runs. Every fault heals
 * before it returns: a killed process is started again and a frozen one thawed (in `finally`, so a
 * failure in between cannot leave it stopped), so the next fault begins from a full cluster.
 */
export interface Fault {
  name: string;
  inject(context: FaultContext): Promise<void>;
}

const receiversReady = (cluster: ChaosCluster, status: number) =>
  eventually(async () => {
    const statuses = await Promise.all(cluster.alive('receiver').map(async (r) => (await fetch(r.url.replace('/graphql', '/readyz'))).status));
    if (!statuses.every((s) => s === status)) throw new Error(`receivers' /readyz: ${statuses.join(', ')}, waiting for ${status}`);
  }, 20_000);

export const FAULTS: Fault[] = [
  {
    name: 'redis-restart',
    async inject({ cluster, workload, opsDuringFault, observe }) {
      await cluster.redis.stop();
      try {
        // The receivers really lost Redis: they say so.
        await receiversReady(cluster, 503);
        await workload.progress(opsDuringFault);
      } finally {
        await cluster.redis.start();
      }
      await cluster.allReady(60_000);
      observe('redis-server SIGKILLed; receivers reported 503; restarted on the same port; every instance ready again');
    },
  },
  {
    name: 'relay-leader-kill',
    async inject({ cluster, workload, opsDuringFault, observe }) {
      const leader = await cluster.relayLeader();
      await cluster.kill(leader.name);
      const successor = await cluster.relayLeader();
      observe(`SIGKILL ${leader.name} (leader); ${successor.name} took the lead`);
      await workload.progress(opsDuringFault);
      await cluster.restart(leader.name);
    },
  },
  {
    name: 'relay-leader-freeze',
    async inject({ cluster, workload, freezeMs, observe }) {
      const leader = await cluster.relayLeader();
      const started = workload.completed;
      cluster.pause(leader.name);
      try {
        // The fault's length is the point here (about 10 s frozen), not a wait for an effect.
        await new Promise((resolve) => setTimeout(resolve, freezeMs));
      } finally {
        cluster.resume(leader.name);
      }
      const gained = cluster.alive('relay').filter((r) => r !== leader && r.process.log.includes('this instance is now the relay leader') && r.process.log.lastIndexOf('this instance is now the relay leader') > r.process.log.lastIndexOf('this instance lost the relay lead'));
      observe(`SIGSTOP ${leader.name} (leader) for ${freezeMs} ms, then SIGCONT; ${workload.completed - started} operations meanwhile; `
        + `standby took the lead meanwhile: ${gained.length ? gained.map((g) => g.name).join(', ') : 'no'}`);
      await cluster.relayLeader();
    },
  },
  {
    name: 'receiver-kill',
    async inject({ cluster, workload, sessions, opsDuringFault, observe }) {
      const load = (name: string) => [...sessions.values()].filter((s) => s.receiver === name).length;
      const victim = cluster.alive('receiver').sort((a, b) => load(b.name) - load(a.name))[0]!;
      const moved = [...sessions.values()].filter((s) => s.receiver === victim.name);
      await cluster.kill(victim.name);
      await Promise.all(moved.map((s) => eventually(() => {
        if (!s.connected || s.receiver === victim.name) throw new Error(`${s.userId} has not reconnected elsewhere`);
      }, 20_000)));
      observe(`SIGKILL ${victim.name}; its ${moved.length} clients (${moved.map((s) => s.userId).join(', ')}) reconnected to ${[...new Set(moved.map((s) => s.receiver))].join(', ')} and resumed with their cursors`);
      await workload.progress(opsDuringFault);
      await cluster.restart(victim.name);
    },
  },
  {
    name: 'sender-kill',
    async inject({ cluster, workload, rng, observe }) {
      const victim = rng.pick(cluster.alive('sender'));
      const burst = workload.burst(8, victim.name);
      await burst.firstAnswer;
      await cluster.kill(victim.name);
      const outcomes = await burst.all;
      const retried = outcomes.filter((o) => o.attempts > 1).length;
      observe(`SIGKILL ${victim.name} after the first of 8 concurrent posts to it answered; ${retried} were in flight and retried on the other sender `
        + `with the same clientMessageId (${outcomes.filter((o) => o.ok).length} succeeded in the end)`);
      await cluster.restart(victim.name);
    },
  },
  {
    name: 'pg-terminate',
    async inject({ cluster, workload, opsDuringFault, observe }) {
      const first = await cluster.terminateDatabaseSessions();
      await workload.progress(Math.ceil(opsDuringFault / 2));
      const second = await cluster.terminateDatabaseSessions();
      await workload.progress(Math.ceil(opsDuringFault / 2));
      await cluster.allReady(60_000);
      await cluster.relayLeader();
      observe(`pg_terminate_backend of ${first}, then ${second} sessions of the service (all but the oracle's own); every instance ready again`);
    },
  },
];
