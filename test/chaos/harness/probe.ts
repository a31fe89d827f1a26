import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { compareCursors } from '../../../src/application/realtime/cursor';
import { tokenFor } from '../../support/test-server';
import { connectClient, subscribe, type Received } from '../../support/ws-client';
import type { Api } from './api';
import type { ChaosCluster } from './cluster';

const AUTHOR = 'probe-author';
const READER = 'probe-reader';
const CREATE_CHAT = 'mutation($input: CreateChatInput!) { createChat(input: $input) { id cursor } }';
const POST = 'mutation($chatId: ID!, $content: String!, $cmid: String) { createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $cmid }) { id } }';
const MESSAGE_ADDED = 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { id cursor } }';

interface Subscriber {
  url: string;
  client: Client;
  received: Received<{ id: string; cursor: string }>;
  closed: boolean;
}

export interface Delivery {
  /** From `since` until the probe had reached every receiver; null when one did not get it in time. */
  ms: number | null;
  detail: string;
}

/** Probe posts made one after the other while a fault lasts (`DeliveryProbe.stream`). */
export interface ProbeStream {
  /** Stops posting; answers the ids of the posts that were answered, in the order they were made. */
  stop(): Promise<string[]>;
  /** Answered posts so far. */
  posted(): number;
}

/** Whether every post of a stream reached every receiver's subscriber, once each and in order. */
export interface Arrival extends Delivery {
  /** Posts that arrived twice at one receiver, or after a later one (`receiver: …`). */
  problems: string[];
}

/** How long a stream's post may take to be answered before the stream gives up on it. */
const STREAM_POST_DEADLINE_MS = 60_000;
/** Chats created, at most, to find one in each partition (a chat's partition is a hash of its id). */
const CHATS_PER_PARTITION_SEARCH = 12;

/**
 * Is delivery working, end to end, right now? A chat of two users the workload never touches, with a
 * live `messageAdded` subscriber on every receiver: a post to it must reach each of them. The
 * subscriptions resume from the last probe they saw, so one that was cut never misses the next probe.
 */
export class DeliveryProbe {
  private readonly subscribers = new Map<string, Subscriber>();
  /** Per receiver name, the cursor of the last probe it delivered: where its next subscriber resumes. */
  private readonly resumeFrom = new Map<string, string>();
  /** Per receiver name, what its earlier subscribers received (a subscriber replaced keeps its items here). */
  private readonly history = new Map<string, { id: string; cursor: string }[]>();
  /** Probes of the same kind in other partitions (`coverPartitions`), by partition; this one among them. */
  private readonly byPartition = new Map<number, DeliveryProbe>();
  private posted = 0;
  /** Probe posts carry a clientMessageId too, so that a retry after a lost answer posts once. */
  private readonly run = randomBytes(4).toString('hex');

  private constructor(
    private readonly cluster: ChaosCluster,
    private readonly tokens: { author: string; reader: string },
    private readonly chat: { id: string; cursor: string },
  ) {}

  static async create(cluster: ChaosCluster, api: Api): Promise<DeliveryProbe> {
    const tokens = { author: await tokenFor(AUTHOR, '2h'), reader: await tokenFor(READER, '2h') };
    return new DeliveryProbe(cluster, tokens, await DeliveryProbe.createChat(api, tokens.author));
  }

  private static async createChat(api: Api, author: string): Promise<{ id: string; cursor: string }> {
    const created = await api.request(author, CREATE_CHAT, { input: { name: 'delivery probe', participantIds: [READER] } }, { unsafeToRepeat: true });
    if (!created.ok) throw new Error(`the delivery probe's chat could not be created: ${created.code}`);
    return created.data.createChat;
  }

  /**
   * A probe chat in each of `partitions` partitions (this one's among them), each with its own
   * subscriber on every receiver: on a Redis Cluster a partition's delivery depends on the master of its
   * slot, so a fault on one master is measured with a probe of a partition it serves. A chat's partition
   * is a hash of its server-made id: chats are made until every partition has one (the workload never
   * sees them).
   */
  async coverPartitions(api: Api, partitions: number): Promise<void> {
    this.byPartition.set((await this.cluster.partitionsOf([this.chat.id])).get(this.chat.id)!, this);
    for (let made = 0; this.byPartition.size < partitions; made++) {
      if (made >= CHATS_PER_PARTITION_SEARCH * partitions) throw new Error(`no probe chat landed in partitions ${Array.from({ length: partitions }, (_, p) => p).filter((p) => !this.byPartition.has(p)).join(',')} after ${made} chats`);
      const chat = await DeliveryProbe.createChat(api, this.tokens.author);
      const partition = (await this.cluster.partitionsOf([chat.id])).get(chat.id)!;
      if (!this.byPartition.has(partition)) this.byPartition.set(partition, new DeliveryProbe(this.cluster, this.tokens, chat));
    }
  }

  /** The probe whose chat is in `partition` (after `coverPartitions`); this one when there is none. */
  of(partition: number | undefined): DeliveryProbe {
    return partition === undefined ? this : (this.byPartition.get(partition) ?? this);
  }

  /** The probes of every partition (or this one alone). */
  get all(): DeliveryProbe[] {
    return this.byPartition.size ? [...new Set([this, ...this.byPartition.values()])] : [this];
  }

  /** The chat's id, for a report. */
  get chatId(): string {
    return this.chat.id;
  }

  /**
   * Posts one probe after another (each once answered, then a pause of `pauseMs`) until stopped: the
   * posts made while a fault lasts, which must all arrive (`arrived`).
   */
  stream(pauseMs: number): ProbeStream {
    let stopped = false;
    const ids: string[] = [];
    const running = (async () => {
      while (!stopped) {
        const n = ++this.posted;
        const posted = await this.post(`probe ${n} (stream)`, `probe-${this.run}-${n}`, Date.now() + STREAM_POST_DEADLINE_MS);
        if (posted.id) ids.push(posted.id);
        await new Promise((resolve) => setTimeout(resolve, pauseMs)); // deliberate: the stream's pace
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await running;
        return ids;
      },
      posted: () => ids.length,
    };
  }

  /**
   * Waits until each of `ids` has reached every live receiver's subscriber, timed from `since`, and
   * says whether any receiver got a probe twice or out of order (across its subscribers, each resumed
   * after the last probe the one before it got).
   */
  async arrived(ids: string[], since: number, timeoutMs: number): Promise<Arrival> {
    const deadline = Date.now() + timeoutMs;
    const missingAt = () => {
      this.subscribeEverywhere();
      return [...this.subscribers.keys()].map((name) => ({ name, missing: ids.filter((id) => !this.itemsOf(name).some((item) => item.id === id)).length }));
    };
    let missing = missingAt();
    while (missing.some((m) => m.missing > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // deliberate: the poll interval between two looks
      missing = missingAt();
    }
    const problems: string[] = [];
    for (const name of this.subscribers.keys()) {
      const items = this.itemsOf(name);
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.id)) problems.push(`${name}: probe ${item.id} arrived twice`);
        seen.add(item.id);
        if (i > 0 && compareCursors(item.cursor, items[i - 1]!.cursor) <= 0) problems.push(`${name}: probe ${item.id} (${item.cursor}) after ${items[i - 1]!.cursor}`);
      });
    }
    const late = missing.filter((m) => m.missing > 0);
    const detail = `${ids.length} posts; ${late.length ? `still missing after ${timeoutMs} ms: ${late.map((m) => `${m.name} ${m.missing}`).join(', ')}` : 'every receiver had every one'}`;
    return { ms: late.length ? null : Date.now() - since, detail, problems };
  }

  /** What every subscriber on this receiver received, the earlier ones' first. */
  private itemsOf(name: string): { id: string; cursor: string }[] {
    return [...(this.history.get(name) ?? []), ...(this.subscribers.get(name)?.received.items ?? [])];
  }

  /**
   * Posts a probe (through `via` when given, else any sender, retrying until the deadline) and waits
   * until every receiver's subscriber (but those of `except`) has it, timed from `since`.
   */
  async deliver(since: number, timeoutMs: number, options: { via?: string; except?: string } = {}): Promise<Delivery> {
    const { via, except } = options;
    const deadline = since + timeoutMs;
    this.subscribeEverywhere();
    const content = `probe ${++this.posted}`;
    const posted = await this.post(content, `probe-${this.run}-${this.posted}`, deadline, via);
    if (!posted.id) return { ms: null, detail: `the probe post was not answered within ${timeoutMs} ms (${posted.tries.slice(-3).join('; ')})` };
    const watched = [...this.subscribers.entries()].filter(([name]) => name !== except);
    const arrivals = await Promise.all(watched.map(async ([name, subscriber]) => {
      try {
        await subscriber.received.until(() => subscriber.received.items.some((item) => item.id === posted.id), Math.max(1, deadline - Date.now()), content);
        return { name, ms: Date.now() - since };
      } catch {
        return { name, ms: null };
      }
    }));
    const missing = arrivals.filter((a) => a.ms === null).map((a) => a.name);
    const detail = `posted via ${posted.via} after ${posted.answeredMs} ms; ${arrivals.map((a) => `${a.name} ${a.ms === null ? 'never' : `${a.ms} ms`}`).join(', ')}`;
    return { ms: missing.length ? null : Math.max(...arrivals.map((a) => a.ms!)), detail };
  }

  async close(): Promise<void> {
    for (const probe of this.byPartition.values()) if (probe !== this) await probe.close();
    await Promise.all([...this.subscribers.values()].map((s) => s.client.dispose()));
    this.subscribers.clear();
  }

  /**
   * A subscriber on each live receiver, (re)subscribed where the old one was cut, ended, or on a
   * receiver since restarted; none for a receiver that is dead or frozen now.
   */
  private subscribeEverywhere(): void {
    const receivers = this.cluster.alive('receiver').filter((r) => !r.paused);
    for (const [name, subscriber] of this.subscribers) {
      const receiver = receivers.find((r) => r.name === name);
      if (receiver && receiver.url === subscriber.url && !subscriber.closed && subscriber.received.errors.length === 0 && !subscriber.received.completed) continue;
      const last = subscriber.received.items.at(-1)?.cursor;
      if (last) this.resumeFrom.set(name, last);
      this.history.set(name, [...(this.history.get(name) ?? []), ...subscriber.received.items]);
      void subscriber.client.dispose();
      this.subscribers.delete(name);
    }
    for (const receiver of receivers) {
      if (this.subscribers.has(receiver.name)) continue;
      const subscriber = { url: receiver.url, closed: false } as Subscriber;
      subscriber.client = connectClient(receiver.url, this.tokens.reader, () => (subscriber.closed = true));
      subscriber.received = subscribe(subscriber.client, MESSAGE_ADDED, { chatId: this.chat.id, after: this.resumeFrom.get(receiver.name) ?? this.chat.cursor });
      this.subscribers.set(receiver.name, subscriber);
    }
  }

  private async post(content: string, cmid: string, deadline: number, via?: string): Promise<{ id?: string; via: string; answeredMs: number; tries: string[] }> {
    const began = Date.now();
    const tries: string[] = [];
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const senders = this.cluster.alive('sender').filter((s) => !s.paused);
      const sender = senders.find((s) => s.name === via) ?? senders[attempt % senders.length];
      if (!sender) break;
      try {
        const response = await fetch(sender.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.tokens.author}` },
          body: JSON.stringify({ query: POST, variables: { chatId: this.chat.id, content, cmid } }),
          signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
        });
        const answer = (await response.json()) as { data?: { createMessage?: { id: string } }; errors?: { extensions?: { code?: string } }[] };
        const id = answer.data?.createMessage?.id;
        if (id) return { id, via: sender.name, answeredMs: Date.now() - began, tries };
        tries.push(`${sender.name}: ${answer.errors?.[0]?.extensions?.code ?? 'no data'} (HTTP ${response.status})`);
      } catch (error) {
        tries.push(`${sender.name}: ${(error as Error).name === 'TimeoutError' ? 'no answer' : (error as Error).message}`);
      }
      // A client's backoff between retries, not a wait for an effect.
      await new Promise((resolve) => setTimeout(resolve, 200)); // deliberate: a client's backoff
    }
    return { via: via ?? 'any sender', answeredMs: Date.now() - began, tries };
  }
}
