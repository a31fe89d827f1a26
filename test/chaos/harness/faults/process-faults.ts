import { eventually } from '../../../support/eventually';
import { hold, type Fault } from './fault';

/** Processes killed or frozen, one at a time. */
export const PROCESS_FAULTS: Fault[] = [
  {
    name: 'relay-leader-kill',
    async inject({ cluster, workload, liveness, opsDuringFault, observe }) {
      const leader = await cluster.relayLeader();
      const marks = cluster.logMarks();
      const since = Date.now();
      await cluster.kill(leader.name);
      await liveness.leadMoved(leader.name, marks, since, 20_000, false);
      const successor = await cluster.relayLeader();
      observe(`SIGKILL ${leader.name} (leader); ${successor.name} took the lead`);
      await workload.progress(opsDuringFault);
      await cluster.restart(leader.name);
    },
  },
  {
    name: 'relay-leader-freeze',
    async inject({ cluster, workload, liveness, freezeMs, observe }) {
      const leader = await cluster.relayLeader();
      const started = workload.completed;
      const marks = cluster.logMarks();
      const since = Date.now();
      cluster.pause(leader.name);
      try {
        const moved = liveness.leadMoved(leader.name, marks, since, freezeMs, false);
        // The fault's length is the point here (about 10 s frozen), not a wait for an effect.
        await hold(freezeMs);
        await moved;
      } finally {
        cluster.resume(leader.name);
      }
      const gained = cluster.ledSince(marks, leader.name);
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
];
