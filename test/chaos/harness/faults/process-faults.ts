import { eventually } from '../../../support/eventually';
import type { Outcome } from '../api';
import type { ChaosCluster, Instance } from '../cluster';
import type { UserSession } from '../resuming-client';
import { busyLeader, describeTarget, hold, type Fault, type FaultContext } from './fault';

/** How long a relay back from a fault (or one that joined) may take to lead a share of the partitions again. */
const SHARE_TIMEOUT_MS = 30_000;

/** Processes killed, frozen, started or stopped, one at a time. */
export const PROCESS_FAULTS: Fault[] = [
  {
    name: 'relay-leader-kill',
    async inject({ cluster, workload, liveness, opsDuringFault, observe }) {
      const target = await busyLeader({ cluster, workload });
      const since = Date.now();
      await cluster.kill(target.relay.name);
      await liveness.partitionsMoved(target.relay.name, target.partitions, since, 20_000, false);
      await workload.progress(opsDuringFault);
      const restarted = Date.now();
      await cluster.restart(target.relay.name);
      const share = await liveness.takesShare(target.relay.name, restarted, SHARE_TIMEOUT_MS);
      observe(`SIGKILL ${describeTarget(target)}; its partitions went to the other relay; started again, it leads ${share.join(',') || 'nothing'}`);
    },
  },
  {
    name: 'relay-leader-freeze',
    async inject({ cluster, workload, liveness, freezeMs, observe }) {
      const target = await busyLeader({ cluster, workload });
      const started = workload.completed;
      const since = Date.now();
      cluster.pause(target.relay.name);
      let resumedAt: number;
      try {
        const moved = liveness.partitionsMoved(target.relay.name, target.partitions, since, freezeMs, false);
        // The fault's length is the point here (about 10 s frozen), not a wait for an effect.
        await hold(freezeMs);
        await moved;
      } finally {
        cluster.resume(target.relay.name);
        resumedAt = Date.now();
      }
      // Thawed, it finds itself replaced (fenced by the new epochs), then takes a share back.
      const share = await liveness.takesShare(target.relay.name, resumedAt, SHARE_TIMEOUT_MS);
      const leads = await cluster.allPartitionsLed();
      observe(`SIGSTOP ${describeTarget(target)} for ${freezeMs} ms, then SIGCONT; ${workload.completed - started} operations meanwhile; `
        + `thawed, it leads ${share.join(',') || 'nothing'} again (${leads.map((l) => `p${l.partition}→${l.relay!.name}`).join(' ')})`);
    },
  },
  {
    name: 'receiver-kill',
    async inject({ cluster, workload, sessions, opsDuringFault, observe }) {
      const victim = busiestReceiver(cluster, sessions);
      const moved = [...sessions.values()].filter((s) => s.receiver === victim.name);
      await cluster.kill(victim.name);
      await reconnectedElsewhere(moved, victim.name);
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
    // DESIGN.md §4: a user added while connected gets chatAdded and then every event of that chat, with
    // no gap; here the receiver that serves the user dies while the adds are in flight, so the client
    // resumes chatAdded (and then the chat's messageAdded) on another receiver with its cursors.
    name: 'receiver-kill-during-adds',
    async inject(context) {
      const { cluster, workload, sessions, opsDuringFault, observe } = context;
      const victim = busiestReceiver(cluster, sessions);
      const moved = [...sessions.values()].filter((s) => s.receiver === victim.name);
      const plan = await plannedAdds(context, moved.map((s) => s.userId));
      // Posts keep coming to the chats being joined, before, across and after the kill.
      const posting = postWhile(plan.map((p) => p.chatId), workload);
      let killing: Promise<void> | null = null;
      let inFlight = 0;
      let outcomes: Outcome[] = [];
      try {
        outcomes = await Promise.all(plan.map(async ({ chatId, userId }) => {
          const outcome = await workload.addParticipant(chatId, userId);
          // The first answer kills the receiver: the other adds are still in flight.
          if (!killing) {
            inFlight = plan.length - 1;
            killing = cluster.kill(victim.name);
          }
          return outcome;
        }));
        await (killing ?? cluster.kill(victim.name));
        await reconnectedElsewhere(moved, victim.name);
        await workload.progress(opsDuringFault);
      } finally {
        await posting.stop();
      }
      const added = plan.filter((_, i) => outcomes[i]?.ok);
      observe(`added ${added.map((a) => `${a.userId}→${a.chatId.slice(0, 8)}`).join(', ') || 'nobody'} (${plan.length} adds at once, ${plan.length - added.length} refused) `
        + `and SIGKILLed ${victim.name} when the first answered, ${inFlight} still in flight; ${posting.posted()} posts to those chats meanwhile; `
        + `its clients (${moved.map((s) => s.userId).join(', ')}) resumed on ${[...new Set(moved.map((s) => s.receiver))].join(', ')}`);
      await cluster.restart(victim.name);
    },
  },
  {
    // Participants come and go while others post, and a removal races a post (by the removed user and by
    // another): a removed user gets nothing of the chat after the removal, a re-added one everything after.
    name: 'membership-churn',
    async inject({ cluster, workload, rng, opsDuringFault, observe }) {
      const chats = rng.shuffle([...workload.chats.keys()]).slice(0, 2);
      const partitions = await cluster.partitionsOf(chats);
      const posting = postWhile(chats, workload);
      const steps: string[] = [];
      try {
        for (let turn = 0; turn < 8; turn++) {
          const chatId = chats[turn % chats.length]!;
          const creator = workload.creatorOf(chatId);
          const inside = workload.participantsOf(chatId).filter((u) => u !== creator);
          const outside = usersOutside(workload, chatId);
          if (inside.length && (rng.chance(0.6) || !outside.length)) {
            const leaving = rng.pick(inside);
            const [removal, ...posts] = await Promise.all([
              workload.removeParticipant(chatId, leaving),
              workload.postTo(chatId, leaving),
              workload.postTo(chatId, creator),
            ]);
            steps.push(`remove ${leaving} ${removal.ok ? 'ok' : removal.code} racing posts (${posts.map((p) => (p.ok ? 'ok' : p.code)).join(', ')})`);
          } else if (outside.length) {
            const joining = rng.pick(outside);
            const [addition] = await Promise.all([workload.addParticipant(chatId, joining), workload.postTo(chatId, creator)]);
            steps.push(`add ${joining} ${addition.ok ? 'ok' : addition.code}`);
          }
        }
        await workload.progress(Math.ceil(opsDuringFault / 2));
      } finally {
        await posting.stop();
      }
      observe(`membership churn in ${chats.map((c) => `${c.slice(0, 8)} (partition ${partitions.get(c)})`).join(', ')} with ${posting.posted()} posts meanwhile: ${steps.join('; ')}`);
    },
  },
  {
    // DESIGN.md §3: a relay that joins takes its share of the partitions; one that leaves hands them on.
    name: 'relay-join-leave',
    async inject({ cluster, workload, liveness, opsDuringFault, observe }) {
      const name = 'relay-3';
      const since = Date.now();
      await cluster.join(name, 'relay');
      let led: number[] = [];
      try {
        led = await liveness.takesShare(name, since, SHARE_TIMEOUT_MS);
        await workload.progress(opsDuringFault);
        led = await cluster.partitionsLedBy(name);
      } finally {
        const leaving = Date.now();
        await cluster.retire(name);
        if (led.length) await liveness.partitionsMoved(name, led, leaving, 20_000, true);
      }
      await workload.progress(Math.ceil(opsDuringFault / 2));
      const leads = await cluster.allPartitionsLed();
      observe(`${name} joined and led ${led.join(',') || 'nothing'}; stopped (SIGTERM), its partitions went back: ${leads.map((l) => `p${l.partition}→${l.relay!.name}`).join(' ')}`);
    },
  },
];

/** The receiver with the most clients (the first in name order among equals). */
function busiestReceiver(cluster: ChaosCluster, sessions: Map<string, UserSession>): Instance {
  const load = (name: string) => [...sessions.values()].filter((s) => s.receiver === name).length;
  return cluster.alive('receiver').sort((a, b) => load(b.name) - load(a.name))[0]!;
}

async function reconnectedElsewhere(moved: UserSession[], from: string): Promise<void> {
  await Promise.all(moved.map((s) => eventually(() => {
    if (!s.connected || s.receiver === from) throw new Error(`${s.userId} has not reconnected elsewhere`);
  }, 20_000)));
}

function usersOutside(workload: FaultContext['workload'], chatId: string): string[] {
  const inside = new Set(workload.participantsOf(chatId));
  return workload.users.filter((u) => !inside.has(u));
}

/**
 * Up to two chats per user to add them to; a user who is in every chat is first removed from one (so
 * that there is something to join), which is churn of its own.
 */
async function plannedAdds({ workload, rng }: FaultContext, users: string[]): Promise<{ chatId: string; userId: string }[]> {
  const plan: { chatId: string; userId: string }[] = [];
  for (const userId of users) {
    let outside = workload.chatsWithout(userId);
    if (outside.length === 0) {
      const removable = [...workload.chats.keys()].filter((c) => workload.creatorOf(c) !== userId);
      if (removable.length) {
        const chatId = rng.pick(removable);
        if ((await workload.removeParticipant(chatId, userId)).ok) outside = [chatId];
      }
    }
    for (const chatId of rng.shuffle(outside).slice(0, 2)) plan.push({ chatId, userId });
  }
  return plan;
}

/**
 * Posts to `chats`, two at a time, until stopped; each poster pauses `pauseMs` between posts (the
 * traffic in flight when a Redis Cluster fault strikes, which may last 40 s, is paced).
 */
export function postWhile(chats: string[], workload: FaultContext['workload'], pauseMs = 0): { stop(): Promise<void>; posted(): number } {
  let stopped = false;
  let posted = 0;
  const worker = async (offset: number) => {
    for (let i = offset; !stopped && chats.length; i++) {
      await workload.postTo(chats[i % chats.length]!);
      posted++;
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs)); // deliberate: a poster's pace
    }
  };
  const workers = Promise.all([worker(0), worker(1)]);
  return {
    stop: async () => {
      stopped = true;
      await workers;
    },
    posted: () => posted,
  };
}
