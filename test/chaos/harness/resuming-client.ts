import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { compareCursors } from '../../../src/application/realtime/cursor';
import { PartitionVector } from '../../../src/application/realtime/partition-vector';
import type { ChaosCluster } from './cluster';

export const SUBSCRIPTIONS = {
  messageAdded: 'subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { id chatId senderId content seq cursor createdAt } }',
  chatMessageNotification: 'subscription($after: String) { chatMessageNotification(after: $after) { chatId senderId cursor message { id seq } } }',
  unreadCountUpdated: 'subscription($after: String) { unreadCountUpdated(after: $after) { chatId userId unreadCount cursor } }',
  chatAdded: 'subscription($after: String) { chatAdded(after: $after) { id participantIds cursor } }',
  chatUpdated: 'subscription($after: String) { chatUpdated(after: $after) { id participantIds cursor } }',
} as const;

export type Field = keyof typeof SUBSCRIPTIONS;
export const USER_FIELDS = ['chatAdded', 'chatUpdated', 'chatMessageNotification', 'unreadCountUpdated'] as const satisfies readonly Field[];

/** Something the client saw that the contract rules out, or that the report should mention. */
export interface ClientNote {
  userId: string;
  key: string;
  what: string;
  at: number;
}

/**
 * One subscription as the application holds it across connections: everything it received, the
 * cursor to resume from, and whether it is waiting to be allowed again (dormant after FORBIDDEN).
 */
export class TrackedSubscription {
  readonly items: any[] = [];
  /** The cursor of the last payload received; the resume point (DESIGN.md §4). */
  lastCursor: string | null = null;
  state: 'active' | 'dormant' = 'active';
  /** Subscribe calls made (first one and every resume). */
  starts: { after: string; receiver: string }[] = [];
  forbidden = 0;
  errors: string[] = [];
  /** Bumped on every (re)subscribe: a late callback of an older one is ignored. */
  generation = 0;
  unsubscribe: () => void = () => undefined;

  /**
   * Subscribes made: every item carries the one it arrived on (`segment`, 1-based, `starts[segment - 1]`
   * is its subscribe), so that the oracle can tell what came after which resume.
   */
  segment = 0;
  /**
   * A chat subscription's ordering partition, once the oracle has looked it up: a user-scoped cursor
   * (a chatAdded's, the first `after`) means, for one chat, its position in that partition.
   */
  partition: number | null = null;

  constructor(
    readonly key: string,
    readonly field: Field,
    readonly chatId: string | null,
    /** The `after` of the very first subscribe: what the subscriber is entitled to starts after it. */
    readonly firstAfter: string,
    /**
     * Live only: subscribed (and after a reconnect, subscribed again) without `after`, as a client that
     * does not care for history would. Gaps are allowed there; anything the user may not see is not.
     */
    readonly live = false,
  ) {}

  /**
   * Set by the oracle only when the server refused a current participant's resume (a server defect):
   * resuming from the user's latest join instead keeps the later checks meaningful.
   */
  skipTo: string | null = null;
  /** Where the refused resume started: messages between it and `skipTo` are lost to the refusal. */
  skippedFrom: string | null = null;

  get resumeFrom(): string {
    const last = this.lastCursor ?? this.firstAfter;
    if (!this.skipTo) return last;
    const here = this.partition === null ? last : (PartitionVector.decode(last)?.at(this.partition) ?? last);
    return compareCursors(this.skipTo, here) > 0 ? this.skipTo : last;
  }
}

export interface SessionEvents {
  chatAdded(session: UserSession, chat: { id: string; participantIds: string[]; cursor: string }): void;
  note(note: ClientNote): void;
}

/**
 * A user's connection to a receiver (each user has one of the three, so that receivers serve different
 * users and a chat's users are spread over several) with graphql-ws, and its own resume: graphql-ws would retry by
 * re-sending each subscription's original `after`, so retrying is off and this reconnects itself,
 * resubscribing each subscription with the LAST cursor it received. When the receiver is gone, it
 * goes to another one.
 */
export class UserSession {
  readonly subscriptions = new Map<string, TrackedSubscription>();
  receiver: string;
  connected = false;
  connections = 0;
  private client: Client | null = null;
  private connection = 0;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly userId: string,
    private readonly token: string,
    private readonly cluster: ChaosCluster,
    private readonly events: SessionEvents,
    receiver: string,
  ) {
    this.receiver = receiver;
  }

  /** Opens the connection and the user-scoped subscriptions, all after `start`. */
  start(start: string): void {
    for (const field of USER_FIELDS) this.subscriptions.set(field, new TrackedSubscription(field, field, null, start));
    this.open();
  }

  /** A chat-scoped messageAdded, first subscribed after `after` (the cursor of the event that let the user in). */
  watchChat(chatId: string, after: string, live = false): TrackedSubscription {
    const key = `${live ? 'messageAddedLive' : 'messageAdded'}:${chatId}`;
    let tracked = this.subscriptions.get(key);
    if (!tracked) {
      tracked = new TrackedSubscription(key, 'messageAdded', chatId, after, live);
      this.subscriptions.set(key, tracked);
      this.subscribe(tracked);
    }
    return tracked;
  }

  /** Wakes a dormant chat subscription with its last cursor (the user is a participant again). */
  revive(tracked: TrackedSubscription): void {
    if (tracked.state !== 'dormant') return;
    tracked.state = 'active';
    this.subscribe(tracked);
  }

  /** Moves to another receiver: closes this connection and resumes every subscription there. */
  moveTo(receiver: string): void {
    this.receiver = receiver;
    this.reconnect(0);
  }

  /** Resolves once connected (acknowledged) to a receiver. */
  whenConnected(timeoutMs = 30_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error(`${this.userId}: not connected to a receiver after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.dispose();
  }

  private open(): void {
    if (this.closed) return;
    const connection = ++this.connection;
    const target = this.pickReceiver();
    if (!target) return this.reconnect(200);
    this.receiver = target.name;
    this.connected = false;
    this.client = createClient({
      url: target.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      connectionParams: { authorization: `Bearer ${this.token}` },
      on: {
        connected: () => {
          if (connection !== this.connection) return;
          this.connected = true;
          this.connections++;
          for (const waiter of [...this.waiters]) waiter();
          this.waiters.clear();
        },
        closed: () => this.lost(connection),
        error: () => this.lost(connection),
      },
    });
    for (const tracked of this.subscriptions.values()) if (tracked.state === 'active') this.subscribe(tracked);
  }

  private pickReceiver() {
    const receivers = this.cluster.alive('receiver');
    return receivers.find((r) => r.name === this.receiver) ?? receivers[0];
  }

  private lost(connection: number): void {
    if (connection !== this.connection || this.closed) return;
    this.connected = false;
    this.reconnect(100 + Math.floor(Math.random() * 200));
  }

  private reconnect(delayMs: number): void {
    if (this.closed) return;
    const old = this.client;
    this.client = null;
    this.connection++;
    this.connected = false;
    for (const tracked of this.subscriptions.values()) tracked.generation++;
    void old?.dispose();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    // A client's reconnect backoff, not a wait for an effect.
    this.reconnectTimer = setTimeout(() => this.open(), delayMs);
  }

  private subscribe(tracked: TrackedSubscription): void {
    const client = this.client;
    if (!client || tracked.state !== 'active') return;
    tracked.unsubscribe();
    const generation = ++tracked.generation;
    const after = tracked.live ? 'none (live only)' : tracked.resumeFrom;
    const segment = ++tracked.segment;
    tracked.starts.push({ after, receiver: this.receiver });
    const variables: Record<string, unknown> = tracked.live ? {} : { after };
    if (tracked.chatId) variables.chatId = tracked.chatId;
    tracked.unsubscribe = client.subscribe<Record<string, any>>(
      { query: SUBSCRIPTIONS[tracked.field], variables },
      {
        next: (result) => {
          if (generation !== tracked.generation) return;
          if (result.errors?.length) return this.failed(tracked, generation, result.errors);
          const item = result.data![tracked.field];
          tracked.items.push({ ...item, segment, receivedAt: Date.now() });
          tracked.lastCursor = item.cursor;
          if (tracked.field === 'chatAdded') this.events.chatAdded(this, item);
        },
        error: (error) => {
          if (generation !== tracked.generation) return;
          // A closed socket is the connection's business: it reconnects and resumes everything.
          if (!Array.isArray(error)) return;
          this.failed(tracked, generation, error as { extensions?: { code?: string }; message: string }[]);
        },
        complete: () => {
          if (generation !== tracked.generation || this.closed) return;
          this.note(tracked, 'the server completed a subscription that never ends; resubscribing');
          this.retrySoon(tracked, generation);
        },
      },
    );
  }

  private failed(tracked: TrackedSubscription, generation: number, errors: readonly { extensions?: { code?: string }; message: string }[]): void {
    const code = String(errors[0]?.extensions?.code ?? 'NO_CODE');
    tracked.errors.push(code);
    if (code === 'FORBIDDEN' && tracked.chatId) {
      // Removed from the chat: wait until the user is in it again (chatAdded, or the oracle's check).
      tracked.forbidden++;
      tracked.state = 'dormant';
      tracked.generation++;
      return;
    }
    this.note(tracked, `subscription error ${code}: ${errors[0]?.message ?? ''}; resubscribing with the last cursor`);
    this.retrySoon(tracked, generation);
  }

  private retrySoon(tracked: TrackedSubscription, generation: number): void {
    tracked.generation++;
    setTimeout(() => {
      if (tracked.generation === generation + 1 && tracked.state === 'active') this.subscribe(tracked);
    }, 250).unref();
  }

  private note(tracked: TrackedSubscription, what: string): void {
    this.events.note({ userId: this.userId, key: tracked.key, what, at: Date.now() });
  }
}
