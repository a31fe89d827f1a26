import { compareCursors } from '../../../src/application/realtime/cursor';
import { PartitionVector } from '../../../src/application/realtime/partition-vector';
import type { Api } from '../harness/api';
import type { ChaosCluster } from '../harness/cluster';
import type { TrackedSubscription, UserSession } from '../harness/resuming-client';
import type { Workload } from '../harness/workload';
import { chatListOf, loadTruth, routeKey, type ChatTruth, type Truth } from './event-store-truth';

/** One thing the system got wrong, with enough to find it again. */
export interface Failure {
  kind: string;
  userId?: string;
  chatId?: string;
  detail: string;
  round?: string;
  /** For a missing delivery: the items, so that later rounds do not wait for them again. */
  lost?: string[];
}

/** User-scoped channels checked exactly against the recipients the outbox recorded. */
const ROUTED_FIELDS = ['chatAdded', 'chatUpdated', 'chatMessageNotification'] as const;

const CHATS = '{ chats { id name participantIds unreadCount lastMessage { id seq content isEdited } } }';
const UNREAD_COUNTS = '{ unreadCounts { chatId unreadCount } }';
const READS = 'query($id: ID!) { messageReads(messageId: $id) { userId readAt } }';

/**
 * Judges a run against the event store (DESIGN.md §4–§5): every subscriber got what it was entitled
 * to, once, in order; unread counts, chat lists and receipts equal the fold of the events; each
 * clientMessageId exists once; bad inputs changed nothing. Safety failures (a duplicate, a reorder,
 * a message the user may not see) are final the moment they are seen; the rest is awaited until the
 * system is quiet or the time is up.
 */
export class Oracle {
  readonly failures: Failure[] = [];
  private readonly reported = new Set<string>();
  private reportedAnomalies = 0;
  /** Deliveries reported missing: never coming, so later checks do not wait for them. */
  private readonly lost = new Set<string>();
  round = 'setup';
  /** What the last check compared: evidence that it looked at something. */
  stats: Record<string, number> = {};

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly api: Api,
    private readonly sessions: Map<string, UserSession>,
    private readonly tokens: Map<string, string>,
    private readonly workload: Workload,
  ) {}

  /** Waits until the system has caught up with the event store (or `timeoutMs`), then records what differs. */
  async check(timeoutMs: number, stallMs = 20_000): Promise<{ waitedMs: number; caughtUp: boolean }> {
    const started = Date.now();
    let pending: Failure[] = [];
    // Stop waiting when nothing has moved for `stallMs`: a lost message does not come back by waiting.
    let signature = '';
    let changed = started;
    let truth: Truth;
    const revived = new Map<TrackedSubscription, { forbidden: number; fallback: boolean }>();
    for (;;) {
      truth = await loadTruth(this.cluster.db, ROUTED_FIELDS);
      this.reviveDormant(truth, revived);
      for (const failure of this.safety(truth)) this.report(failure);
      pending = this.deliveryGaps(truth);
      if (pending.length === 0) pending = await this.readModelGaps(truth);
      const now = pending.map((f) => `${f.kind}|${f.userId}|${f.chatId}|${f.detail}`).join('\n');
      if (now !== signature) [signature, changed] = [now, Date.now()];
      if (pending.length === 0 || Date.now() - started > timeoutMs || Date.now() - changed > stallMs) break;
      // Polling the effect (subscribers and read models catching up), as eventually() does.
      await new Promise((resolve) => setTimeout(resolve, 250)); // deliberate: the poll interval between two looks
    }
    for (const failure of pending) this.report(failure);
    this.stats = this.coverage(truth);
    this.stats.receiptsCompared = await this.checkReceipts(truth);
    Object.assign(this.stats, this.checkPostsAndInputs(truth));
    return { waitedMs: Date.now() - started, caughtUp: pending.length === 0 };
  }

  private report(failure: Failure): void {
    for (const item of failure.lost ?? []) this.lost.add(item);
    delete failure.lost;
    const key = `${failure.kind}|${failure.userId ?? ''}|${failure.chatId ?? ''}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.failures.push({ ...failure, round: this.round });
  }

  /**
   * A dormant chat subscription of a user who is a participant again resumes with its last cursor.
   * Everything is quiet now, so a FORBIDDEN to that resume is the server refusing a current
   * participant (DESIGN.md §4: skip the stretches, do not fail). It is reported, and the subscription
   * resumes from the user's latest join instead, so that later rounds still check it.
   */
  private reviveDormant(truth: Truth, revived: Map<TrackedSubscription, { forbidden: number; fallback: boolean }>): void {
    for (const session of this.sessions.values()) {
      for (const chat of truth.chats.values()) {
        if (!chat.state.participantIds.includes(session.userId)) continue;
        const tracked = session.subscriptions.get(`messageAdded:${chat.id}`);
        if (!tracked || tracked.state !== 'dormant') continue;
        const previous = revived.get(tracked);
        if (previous && tracked.forbidden > previous.forbidden) {
          const start = tracked.starts.at(-1);
          this.report({
            kind: 'resume refused for a current participant',
            userId: session.userId,
            chatId: chat.id,
            detail: `messageAdded(after: ${start?.after}) on ${start?.receiver} answered FORBIDDEN while ${session.userId} is a participant `
              + `(joins at ${chat.joins.get(session.userId)?.join(', ')}); DESIGN.md §4 says a current participant's resume skips the stretches outside membership`,
          });
          if (previous.fallback) continue;
          tracked.skippedFrom = tracked.resumeFrom;
          tracked.skipTo = chat.joins.get(session.userId)!.at(-1)!;
        }
        revived.set(tracked, { forbidden: tracked.forbidden, fallback: previous ? true : false });
        session.revive(tracked);
      }
    }
  }

  /** What is wrong for good: duplicates, reorders, messages the subscriber was not entitled to. */
  private safety(truth: Truth): Failure[] {
    const failures: Failure[] = [];
    for (const session of this.sessions.values()) {
      const userId = session.userId;
      for (const tracked of session.subscriptions.values()) {
        if (tracked.field === 'messageAdded') {
          failures.push(...this.chatStreamSafety(userId, tracked, truth.chats.get(tracked.chatId!), truth));
        } else if (tracked.field === 'unreadCountUpdated') {
          failures.push(...unreadStreamSafety(userId, tracked, truth));
        } else {
          failures.push(...routedStreamSafety(userId, tracked, truth));
        }
      }
    }
    return failures;
  }

  private chatStreamSafety(userId: string, tracked: TrackedSubscription, chat: ChatTruth | undefined, truth: Truth): Failure[] {
    const failures: Failure[] = [];
    const base = { userId, chatId: tracked.chatId! };
    if (!chat) return [{ ...base, kind: 'messageAdded for an unknown chat', detail: JSON.stringify(tracked.items[0]) }];
    const partition = truth.partitions.get(chat.id) ?? 0;
    tracked.partition = partition;
    const seen = new Set<string>();
    let highest = 0;
    let segment = 0;
    tracked.items.forEach((item, index) => {
      const truth = chat.bySeq.get(item.seq);
      const where = `item #${index} (seq ${item.seq}) of ${tracked.items.length}, seqs around it ${seqsAround(tracked.items, index)}`;
      if (!truth || truth.id !== item.id || truth.postedContent !== item.content || truth.senderId !== item.senderId || item.chatId !== chat.id || truth.cursor !== item.cursor) {
        failures.push({ ...base, kind: 'messageAdded differs from the event store', detail: `${where}: got ${JSON.stringify(item)}, stored ${JSON.stringify(truth && { id: truth.id, content: truth.postedContent, senderId: truth.senderId, cursor: truth.cursor })}` });
        return;
      }
      // A live-only subscription starts afresh on each subscribe: order and repeats are judged per subscribe.
      if (tracked.live && item.segment !== segment) [segment, highest] = [item.segment, 0];
      const kind = tracked.live ? 'messageAdded (live only)' : 'messageAdded';
      const start = tracked.starts[item.segment - 1];
      if (seen.has(`${segment}:${item.seq}`)) failures.push({ ...base, kind: `${kind} duplicate`, detail: `${where}: seq ${item.seq} received twice` });
      else if (item.seq < highest) failures.push({ ...base, kind: `${kind} out of seq order`, detail: `${where}: seq ${item.seq} after seq ${highest}` });
      else if (!tracked.live && item.segment > 1 && start && !isAfter(start.after, partition, item.cursor)) {
        failures.push({ ...base, kind: 'messageAdded repeated after a resume', detail: `${where}: cursor ${item.cursor} is not after the resume's after: ${start.after} (on ${start.receiver})` });
      }
      if (!truth.members.has(userId)) failures.push({ ...base, kind: `${kind} not entitled`, detail: `${where}: posted while ${userId} was not a participant (participants then: ${[...truth.members].join(', ')}); starts ${JSON.stringify(tracked.starts.slice(-3))}` });
      if (!tracked.live && !isAfter(tracked.firstAfter, partition, item.cursor)) failures.push({ ...base, kind: 'messageAdded before its after', detail: `${where}: cursor ${item.cursor} is not after ${tracked.firstAfter} in partition ${partition}` });
      seen.add(`${segment}:${item.seq}`);
      highest = Math.max(highest, item.seq);
    });
    return failures;
  }

  /** What is not there yet: awaited until quiet, reported at the deadline. */
  private deliveryGaps(truth: Truth): Failure[] {
    const gaps: Failure[] = [];
    for (const session of this.sessions.values()) {
      const userId = session.userId;
      if (!session.connected) gaps.push({ kind: 'client not connected', userId, detail: `to ${session.receiver}` });
      for (const chat of truth.chats.values()) {
        if (!chat.state.participantIds.includes(userId)) continue;
        const tracked = session.subscriptions.get(`messageAdded:${chat.id}`);
        const base = { userId, chatId: chat.id };
        if (!tracked) {
          gaps.push({ ...base, kind: 'no messageAdded subscription for a participant', detail: 'chatAdded never arrived for this chat' });
          continue;
        }
        if (tracked.state === 'dormant') {
          gaps.push({ ...base, kind: 'messageAdded dormant for a participant', detail: `FORBIDDEN ${tracked.forbidden} time(s); starts ${JSON.stringify(tracked.starts.slice(-3))}` });
          continue;
        }
        const partition = truth.partitions.get(chat.id) ?? 0;
        const received = new Set(tracked.items.map((item) => item.seq));
        const expected = chat.messages.filter((m) => m.members.has(userId) && isAfter(tracked.firstAfter, partition, m.cursor));
        const missing = expected.filter((m) => !received.has(m.seq) && !this.lost.has(`${userId}|${chat.id}|${m.seq}`));
        // Lost to a resume the server refused (reported on its own): final, and told apart from a plain loss.
        const refused = missing.filter((m) => tracked.skipTo && compareCursors(m.cursor, tracked.skipTo) < 0);
        // At or before the `after` of the latest (re)subscribe, which was the last payload's cursor: no later
        // subscribe sends it, so it is lost for good, and the resume rule (DESIGN.md §4) is what broke.
        const latest = tracked.starts.at(-1);
        const skipped = missing.filter((m) => !refused.includes(m) && latest && !isAfter(latest.after, partition, m.cursor));
        const lost = missing.filter((m) => !refused.includes(m) && !skipped.includes(m));
        const describe = (list: typeof missing) => `${list.length} of ${expected.length} entitled messages never arrived, first seq ${list[0]!.seq} (cursor ${list[0]!.cursor}); `
          + `received ${tracked.items.length}, last cursor ${tracked.lastCursor}; subscribed after ${tracked.firstAfter}; `
          + `last starts ${JSON.stringify(tracked.starts.slice(-3))}; errors ${tracked.errors.join(',') || 'none'}`;
        const keys = (list: typeof missing) => list.map((m) => `${userId}|${chat.id}|${m.seq}`);
        if (refused.length > 0) {
          this.report({ ...base, kind: 'messageAdded missing after a refused resume', detail: `${describe(refused)}; the refused resume was after ${tracked.skippedFrom}, resumed instead from the latest join ${tracked.skipTo}`, lost: keys(refused) });
        }
        if (skipped.length > 0) {
          this.report({ ...base, kind: 'messageAdded gap at a resume', detail: `${describe(skipped)}; the latest subscribe was after ${latest!.after} on ${latest!.receiver}, past them`, lost: keys(skipped) });
        }
        if (lost.length > 0) gaps.push({ ...base, kind: 'messageAdded missing', detail: describe(lost), lost: keys(lost) });
      }
      for (const field of ROUTED_FIELDS) {
        const tracked = session.subscriptions.get(field)!;
        const partitionOf = (chatId: string) => truth.partitions.get(chatId) ?? 0;
        const expected = (truth.routed.get(routeKey(field, userId)) ?? []).filter((m) => isAfter(tracked.firstAfter, partitionOf(m.chatId), m.cursor));
        const received = new Set(tracked.items.map((item) => eventKey(routedChatId(item), positionIn(item.cursor, partitionOf(routedChatId(item))))));
        const missing = expected.filter((m) => !received.has(eventKey(m.chatId, m.cursor)) && !this.lost.has(`${userId}|${field}|${m.cursor}`));
        // Passed by the `after` of the latest (re)subscribe (the last payload's cursor) in its partition: lost for good.
        const latest = tracked.starts.at(-1);
        const skipped = missing.filter((m) => latest && !isAfter(latest.after, partitionOf(m.chatId), m.cursor));
        const pending = missing.filter((m) => !skipped.includes(m));
        const describe = (list: typeof missing) => `${list.length} of ${expected.length} never arrived, first at cursor ${list[0]!.cursor} of chat ${list[0]!.chatId} `
          + `(partition ${partitionOf(list[0]!.chatId)}); received ${tracked.items.length}, last cursor ${tracked.lastCursor}; starts ${JSON.stringify(tracked.starts.slice(-3))}`;
        const keys = (list: typeof missing) => list.map((m) => `${userId}|${field}|${m.cursor}`);
        if (skipped.length > 0) {
          this.report({ userId, chatId: skipped[0]!.chatId, kind: `${field} gap at a resume`, lost: keys(skipped), detail: `${describe(skipped)}; the latest subscribe's after ${latest!.after} is past them` });
        }
        if (pending.length > 0) gaps.push({ userId, chatId: pending[0]!.chatId, kind: `${field} missing`, lost: keys(pending), detail: describe(pending) });
      }
      const counts = session.subscriptions.get('unreadCountUpdated')!;
      for (const chat of truth.chats.values()) {
        if (!chat.state.participantIds.includes(userId)) continue;
        const want = truth.unreadCounts.get(`${chat.id}/${userId}`) ?? 0;
        const last = [...counts.items].reverse().find((item) => item.chatId === chat.id);
        if (last?.unreadCount !== want) {
          gaps.push({ userId, chatId: chat.id, kind: 'unreadCountUpdated last value differs', detail: `last value received ${last?.unreadCount ?? 'none'} (cursor ${last?.cursor}), ground truth ${want}` });
        }
      }
    }
    return gaps;
  }

  /** The chats and unreadCounts queries of every user, against the fold of the events. */
  private async readModelGaps(truth: Truth): Promise<Failure[]> {
    const gaps: Failure[] = [];
    for (const session of this.sessions.values()) {
      const userId = session.userId;
      const token = this.tokens.get(userId)!;
      const [{ chats }, { unreadCounts }] = await Promise.all([this.api.read(token, CHATS), this.api.read(token, UNREAD_COUNTS)]);
      const want = chatListOf(truth, userId);
      const got = (chats as any[])
        .map((c) => ({ ...c, participantIds: [...c.participantIds].sort(), lastMessage: c.lastMessage && { id: c.lastMessage.id, seq: c.lastMessage.seq, content: c.lastMessage.content, isEdited: c.lastMessage.isEdited } }))
        .sort((a, b) => a.id.localeCompare(b.id));
      const difference = firstDifference(got, want);
      if (difference) gaps.push({ userId, kind: 'chats query differs from the event store', detail: difference });
      const gotCounts = Object.fromEntries((unreadCounts as any[]).map((u) => [u.chatId, u.unreadCount]));
      const wantCounts = Object.fromEntries(want.map((c) => [c.id, c.unreadCount]));
      const countDifference = firstDifference(gotCounts, wantCounts);
      if (countDifference) gaps.push({ userId, kind: 'unreadCounts query differs from the ground truth', detail: countDifference });
    }
    return gaps;
  }

  /** messageReads of every message someone read (and a few nobody did), as a participant sees them. */
  private coverage(truth: Truth): Record<string, number> {
    const sessions = [...this.sessions.values()];
    const subscriptions = sessions.flatMap((s) => [...s.subscriptions.values()]);
    const items = (field: string) => subscriptions.filter((t) => t.field === field && !t.live).reduce((n, t) => n + t.items.length, 0);
    return {
      events: truth.eventCount,
      subscriptions: subscriptions.length,
      dormant: subscriptions.filter((t) => t.state === 'dormant').length,
      messageAdded: items('messageAdded'),
      messageAddedLiveOnly: subscriptions.filter((t) => t.live).reduce((n, t) => n + t.items.length, 0),
      chatMessageNotification: items('chatMessageNotification'),
      chatAdded: items('chatAdded'),
      chatUpdated: items('chatUpdated'),
      unreadCountUpdated: items('unreadCountUpdated'),
      chatListEntries: sessions.reduce((n, s) => n + chatListOf(truth, s.userId).length, 0),
    };
  }

  private async checkReceipts(truth: Truth): Promise<number> {
    const probes: { chat: ChatTruth; messageId: string }[] = [];
    for (const chat of truth.chats.values()) {
      const unread = chat.messages.filter((m) => !chat.reads.has(m.id)).slice(-3);
      for (const message of [...chat.messages.filter((m) => chat.reads.has(m.id)), ...unread]) probes.push({ chat, messageId: message.id });
    }
    for (let i = 0; i < probes.length; i += 6) {
      await Promise.all(probes.slice(i, i + 6).map(async ({ chat, messageId }) => {
        const viewer = chat.state.createdBy;
        if (!this.tokens.has(viewer)) return;
        const { messageReads } = await this.api.read(this.tokens.get(viewer)!, READS, { id: messageId });
        const got = Object.fromEntries((messageReads as any[]).map((r) => [r.userId, new Date(r.readAt).toISOString()]));
        const want = Object.fromEntries([...(chat.reads.get(messageId) ?? new Map()).entries()].map(([u, at]) => [u, new Date(at).toISOString()]));
        const difference = firstDifference(got, want);
        if (difference) this.report({ kind: 'messageReads differs from the event store', chatId: chat.id, detail: `message ${messageId}: ${difference}` });
      }));
    }
    return probes.length;
  }

  private checkPostsAndInputs(truth: Truth): Record<string, number> {
    const idsByClientId = new Map<string, string>();
    for (const chat of truth.chats.values()) for (const m of chat.messages) if (m.clientMessageId) idsByClientId.set(`${m.senderId}\u0000${m.clientMessageId}`, m.id);
    for (const post of this.workload.posts.values()) {
      const stored = truth.clientMessageIds.get(post.clientMessageId) ?? { rows: 0, events: 0 };
      const base = { userId: post.userId, chatId: post.chatId };
      if (stored.rows > 1 || stored.events > 1) {
        this.report({ ...base, kind: 'post stored more than once', detail: `clientMessageId ${post.clientMessageId}: ${stored.rows} rows, ${stored.events} MessagePosted events (retried: ${post.retried})` });
      } else if (post.answers.length > 0) {
        const id = idsByClientId.get(`${post.userId}\u0000${post.clientMessageId}`);
        if (stored.rows !== 1 || stored.events !== 1 || post.answers.some((answer) => answer !== id)) {
          this.report({ ...base, kind: 'answered post not stored once', detail: `clientMessageId ${post.clientMessageId}: answers ${post.answers.join(', ')}, stored ${id ?? 'nothing'} (${stored.rows} rows, ${stored.events} events)` });
        }
      }
    }
    for (const event of truth.badInputEvents) {
      this.report({ kind: 'a bad input changed something', detail: `${event.type} ${JSON.stringify(event.data).slice(0, 300)}` });
    }
    for (const chat of truth.chats.values()) {
      if (!chat.state.participantIds.includes(chat.state.createdBy)) this.report({ kind: 'creator left their chat', chatId: chat.id, detail: chat.state.createdBy });
    }
    for (const anomaly of this.workload.anomalies.slice(this.reportedAnomalies)) this.report({ kind: `client saw: ${anomaly.kind}`, detail: anomaly.detail });
    this.reportedAnomalies = this.workload.anomalies.length;
    const posts = [...this.workload.posts.values()];
    return { postsChecked: posts.length, retriedPostsChecked: posts.filter((p) => p.retried).length, badInputsTried: this.workload.badInputs.length };
  }
}

/**
 * A user-scoped payload's cursor is the subscription's position after it, one position per partition
 * (DESIGN.md §4): its event is the one at the cursor's position in the partition of the payload's chat.
 * Order is judged partition by partition: a payload's cursor is at or after the previous payload's (at
 * first, the subscription's `after`) in every partition, and strictly after it in its own chat's.
 */
function routedStreamSafety(userId: string, tracked: TrackedSubscription, truth: Truth): Failure[] {
  const failures: Failure[] = [];
  const expected = new Map((truth.routed.get(routeKey(tracked.field, userId)) ?? []).map((m) => [eventKey(m.chatId, m.cursor), m]));
  const first = PartitionVector.decode(tracked.firstAfter)!;
  const seen = new Set<string>();
  let previous = { vector: first, cursor: tracked.firstAfter };
  tracked.items.forEach((item, index) => {
    const chatId = routedChatId(item);
    const partition = truth.partitions.get(chatId);
    const where = `item #${index} of ${tracked.items.length} (cursor ${item.cursor}, chat ${chatId}, partition ${partition})`;
    const vector = PartitionVector.decode(item.cursor);
    if (!vector || partition === undefined) {
      failures.push({ userId, chatId, kind: `${tracked.field} unreadable`, detail: `${where}: ${vector ? 'a chat the event store does not have' : 'not a cursor this server issues'}` });
      return;
    }
    const position = vector.at(partition);
    const key = eventKey(chatId, position);
    const stored = expected.get(key);
    const start = tracked.starts[item.segment - 1];
    const resumed = index > 0 && tracked.items[index - 1].segment !== item.segment ? ` (the first after a resume after: ${start?.after} on ${start?.receiver})` : '';
    if (seen.has(key)) failures.push({ userId, chatId, kind: `${tracked.field} duplicate`, detail: `${where}: its event at ${position} received twice${resumed}` });
    else if (!previous.vector.isBefore(partition, position)) {
      failures.push({ userId, chatId, kind: `${tracked.field} out of order`, detail: `${where}${resumed}: its event at ${position} is not after the previous cursor ${previous.cursor} in partition ${partition}` });
    } else {
      const behind = partitions(truth, first, vector).filter((p) => compareCursors(vector.at(p), previous.vector.at(p)) < 0);
      if (behind.length) failures.push({ userId, chatId, kind: `${tracked.field} cursor went back`, detail: `${where}${resumed}: behind the previous cursor ${previous.cursor} in partition ${behind.join(', ')}` });
    }
    if (!stored || !first.isBefore(partition, position)) {
      failures.push({ userId, chatId, kind: `${tracked.field} not entitled`, detail: `${where}: the event store has no ${tracked.field} for ${userId} at ${position} after ${tracked.firstAfter}` });
    } else if (tracked.field === 'chatMessageNotification' && (stored.payload.message.id !== item.message.id || stored.chatId !== item.chatId || stored.payload.senderId !== item.senderId)) {
      failures.push({ userId, chatId, kind: `${tracked.field} differs from the event store`, detail: `${where}: got message ${item.message.id} from ${item.senderId}, stored ${stored.payload.message.id} from ${stored.payload.senderId}` });
    }
    seen.add(key);
    previous = { vector, cursor: item.cursor };
  });
  return failures;
}

/** Counts resume with current values, so only per-chat order and the audience are judged here. */
function unreadStreamSafety(userId: string, tracked: TrackedSubscription, truth: Truth): Failure[] {
  const failures: Failure[] = [];
  const latest = new Map<string, string>();
  tracked.items.forEach((item, index) => {
    if (item.userId !== userId) failures.push({ userId, chatId: item.chatId, kind: 'unreadCountUpdated not entitled', detail: `item #${index} is ${item.userId}'s count` });
    // A count's cursor is its chat's (the event that last changed it): one chat, one partition.
    const cursor = positionIn(item.cursor, truth.partitions.get(item.chatId) ?? 0);
    const before = latest.get(item.chatId);
    if (cursor === null) failures.push({ userId, chatId: item.chatId, kind: 'unreadCountUpdated unreadable', detail: `item #${index}: cursor ${item.cursor}` });
    else if (before && compareCursors(cursor, before) < 0) failures.push({ userId, chatId: item.chatId, kind: 'unreadCountUpdated out of order', detail: `item #${index} (cursor ${item.cursor}) after cursor ${before}` });
    else if (!before || compareCursors(cursor, before) > 0) latest.set(item.chatId, cursor);
  });
  return failures;
}

/** A cursor's position in one partition: a user-scoped cursor's entry there (or its base), a plain cursor itself. */
function positionIn(cursor: string, partition: number): string | null {
  return PartitionVector.decode(cursor)?.at(partition) ?? null;
}

/** Whether an event at `cursor` of `partition` comes after `after` (a plain cursor, or one position per partition). */
function isAfter(after: string, partition: number, cursor: string): boolean {
  const vector = PartitionVector.decode(after);
  if (!vector) throw new Error(`the harness holds a cursor it cannot read: ${after}`);
  return vector.isBefore(partition, cursor);
}

/** Every partition of the deployment and every one a cursor names. */
function partitions(truth: Truth, ...vectors: PartitionVector[]): number[] {
  const all = new Set(Array.from({ length: truth.partitionCount }, (_, p) => p));
  for (const vector of vectors) for (const entry of vector.encode().split('~').slice(1)) all.add(Number(entry.split(':')[0]));
  return [...all].sort((a, b) => a - b);
}

function routedChatId(item: any): string {
  return item.chatId ?? item.id;
}

function eventKey(chatId: string, cursor: string | null): string {
  return `${chatId}|${cursor}`;
}

function seqsAround(items: { seq: number }[], index: number): string {
  return items.slice(Math.max(0, index - 3), index + 3).map((i) => i.seq).join(',');
}

/** The first place two JSON-shaped values differ, as a path and both sides; null when equal. */
export function firstDifference(got: unknown, want: unknown, path = '$'): string | null {
  if (canonical(got) === canonical(want)) return null;
  if (Array.isArray(got) && Array.isArray(want)) {
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      const difference = firstDifference(got[i], want[i], `${path}[${i}]`);
      if (difference) return difference;
    }
  } else if (got && want && typeof got === 'object' && typeof want === 'object') {
    const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
    for (const key of [...keys].sort()) {
      const difference = firstDifference((got as any)[key], (want as any)[key], `${path}.${key}`);
      if (difference) return difference;
    }
  }
  return `${path}: got ${JSON.stringify(got)?.slice(0, 300)}, expected ${JSON.stringify(want)?.slice(0, 300)}`;
}

/** JSON with object keys sorted: a read model and a fold build their objects in different key orders. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v)) ?? 'undefined';
}
