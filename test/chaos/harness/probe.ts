import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
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

/**
 * Is delivery working, end to end, right now? A chat of two users the workload never touches, with a
 * live `messageAdded` subscriber on every receiver: a post to it must reach each of them. The
 * subscriptions resume from the last probe they saw, so one that was cut never misses the next probe.
 */
export class DeliveryProbe {
  private readonly subscribers = new Map<string, Subscriber>();
  /** Per receiver name, the cursor of the last probe it delivered: where its next subscriber resumes. */
  private readonly resumeFrom = new Map<string, string>();
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
    const created = await api.request(tokens.author, CREATE_CHAT, { input: { name: 'delivery probe', participantIds: [READER] } }, { unsafeToRepeat: true });
    if (!created.ok) throw new Error(`the delivery probe's chat could not be created: ${created.code}`);
    return new DeliveryProbe(cluster, tokens, created.data.createChat);
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
