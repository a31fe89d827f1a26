import { eventually } from '../../../support/eventually';
import { busyLeader, describeTarget, hold, STOPS_THE_ONE_REDIS, type Fault } from './fault';

const TERMINATIONS = 5;

/** Two faults at once: what one fault's recovery path leans on is hurt by the other. */
export const DOUBLE_FAULTS: Fault[] = [
  {
    name: 'redis-down-leader-frozen',
    only: STOPS_THE_ONE_REDIS,
    async inject({ cluster, workload, liveness, freezeMs, observe }) {
      const target = await busyLeader({ cluster, workload });
      const leader = target.relay;
      const before = workload.completed;
      const since = Date.now();
      await cluster.redis.stop();
      cluster.pause(leader.name);
      let healedAt: number;
      try {
        const others = cluster.alive().filter((i) => i.name !== leader.name);
        // Without Redis the other relay's transport does not answer, and a relay leads only while it does:
        // timed, without a bound.
        const moved = liveness.partitionsMoved(leader.name, target.partitions, since, freezeMs, false);
        await liveness.turnsNotReady(others.filter((i) => i.role !== 'sender'), since, 'Redis stopped');
        await liveness.staysReady(others.filter((i) => i.role === 'sender'), 'Redis is stopped');
        // The freeze's length is the fault itself, not a wait for an effect.
        await hold(since + freezeMs - Date.now());
        await moved;
      } finally {
        await cluster.redis.start();
        cluster.resume(leader.name);
        healedAt = Date.now();
      }
      await liveness.recovered(healedAt);
      await cluster.allReady(60_000);
      const leads = await cluster.allPartitionsLed();
      observe(`redis-server SIGKILLed and ${describeTarget(target)} SIGSTOPped for ${healedAt - since} ms, then both back; ${workload.completed - before} operations meanwhile; `
        + `leads now ${leads.map((l) => `p${l.partition}→${l.relay!.name}`).join(' ')}`);
    },
  },
  {
    name: 'receiver-kill-redis-down',
    only: STOPS_THE_ONE_REDIS,
    async inject({ cluster, workload, sessions, liveness, opsDuringFault, observe }) {
      const load = (name: string) => [...sessions.values()].filter((s) => s.receiver === name).length;
      const victim = cluster.alive('receiver').sort((a, b) => load(b.name) - load(a.name))[0]!;
      const moved = [...sessions.values()].filter((s) => s.receiver === victim.name);
      const since = Date.now();
      await cluster.redis.stop();
      let healedAt: number;
      try {
        await liveness.turnsNotReady([...cluster.alive('receiver'), ...cluster.alive('relay')], since, 'Redis stopped');
        await cluster.kill(victim.name);
        // Clients move to a receiver that has no Redis either: it must take them and resume them when Redis is back.
        await Promise.all(moved.map((s) => eventually(() => {
          if (!s.connected || s.receiver === victim.name) throw new Error(`${s.userId} has not reconnected elsewhere`);
        }, 20_000)));
        await workload.progress(opsDuringFault);
      } finally {
        await cluster.redis.start();
        healedAt = Date.now();
      }
      await liveness.recovered(healedAt);
      await cluster.restart(victim.name);
      observe(`redis-server SIGKILLed; SIGKILL ${victim.name} while Redis was down; its ${moved.length} clients (${moved.map((s) => s.userId).join(', ')}) reconnected to ${[...new Set(moved.map((s) => s.receiver))].join(', ') || 'nothing'}; Redis back after ${healedAt - since} ms, ${victim.name} started again`);
    },
  },
  {
    name: 'leader-kill-pg-terminate',
    async inject({ cluster, workload, liveness, observe }) {
      const target = await busyLeader({ cluster, workload });
      const leader = target.relay;
      const since = Date.now();
      const terminated: number[] = [await cluster.terminateDatabaseSessions()];
      await cluster.kill(leader.name);
      const moved = liveness.partitionsMoved(leader.name, target.partitions, since, 20_000, true);
      // Sessions keep being ended, once a second, while the standby takes over: its own among them.
      for (let round = 0; round < TERMINATIONS; round++) {
        await hold(1000);
        terminated.push(await cluster.terminateDatabaseSessions());
      }
      await moved;
      const healedAt = Date.now();
      await liveness.recovered(healedAt);
      await cluster.restart(leader.name);
      await cluster.allReady(60_000);
      const leads = await cluster.allPartitionsLed();
      observe(`SIGKILL ${describeTarget(target)} between rounds of pg_terminate_backend (${terminated.join(', ')} sessions); `
        + `leads now ${leads.map((l) => `p${l.partition}→${l.relay!.name}`).join(' ')}`);
    },
  },
];
