import { unreadCountMessage, type ChannelMessage, type ChatReadModel, type RelayedRecord } from '../../application';
import type { SubscriptionRouter } from './subscription-router';

export interface UnreadCountFramesDependencies {
  router: SubscriptionRouter;
  readModel: ChatReadModel;
  onError(error: unknown): void;
  /** How long to wait before reading again after a failed read. */
  retryDelayMs?: number;
}

/** One chat's counts to send: of these users (or every participant), with the cursor of the latest event that changed them. */
interface Pending {
  chatId: string;
  users: Set<string> | 'all';
  cursor: string;
  occurredAt: string;
}

const CHANNEL = 'unreadCountUpdated';

/**
 * `unreadCountUpdated` frames without a projection (DESIGN.md §4). Counts are computed from the read
 * models when asked (infrastructure/persistence/unread-count.ts), so no write keeps a row per
 * participant; instead each receiver tells its own subscribers: after a relayed record that changes
 * counts in a chat (a post, a deletion, a read, a chat created or joined), it reads the current
 * counts of that chat's affected participants who subscribe here and sends them with the record's
 * cursor. Nobody subscribed here: no read at all.
 *
 * Why the values are right. A record is relayed only after its transaction committed, so a count
 * read after it is never older than its event. Reads run one at a time in record order, so the
 * values sent for a chat never go back. And a read after a chat's last event returns its final
 * value, so once the chat is quiet the last value sent equals what `unreadCounts` answers. Records
 * that arrive while a read runs are answered together by the next one (live counts may coalesce).
 */
export class UnreadCountFrames {
  private readonly pending = new Map<string, Pending>();
  private reading = false;
  private stopped = false;

  constructor(private readonly deps: UnreadCountFramesDependencies) {}

  /** Reads nothing more; a read in flight still ends. */
  stop(): void {
    this.stopped = true;
    this.pending.clear();
  }

  follow(record: Pick<RelayedRecord, 'messages'>): void {
    // Nobody here listens: the record's payloads stay unparsed (a post's sender id is in its payload),
    // and a recipient list of a 1000-member chat is not copied. Whoever subscribes later starts live.
    if (this.stopped || !this.deps.router.listensTo(CHANNEL)) return;
    for (const change of countChanges(record.messages)) {
      const earlier = this.pending.get(change.chatId);
      if (earlier) change.users = merge(earlier.users, change.users);
      // Re-inserted: chats are read in the order their latest change arrived.
      this.pending.delete(change.chatId);
      this.pending.set(change.chatId, change);
    }
    if (this.pending.size > 0 && !this.reading) void this.readAll();
  }

  private async readAll(): Promise<void> {
    this.reading = true;
    try {
      while (this.pending.size > 0) {
        const [chatId, change] = this.pending.entries().next().value!;
        this.pending.delete(chatId);
        try {
          await this.send(change);
        } catch (error) {
          this.deps.onError(error);
          // Put back unless a newer change came meanwhile, which the next read covers anyway.
          if (!this.pending.has(chatId)) this.pending.set(chatId, change);
          await new Promise((resolve) => setTimeout(resolve, this.deps.retryDelayMs ?? 1000).unref());
        }
      }
    } finally {
      this.reading = false;
    }
  }

  private async send({ chatId, users, cursor, occurredAt }: Pending): Promise<void> {
    const { router, readModel } = this.deps;
    const listening = (userId: string) => router.hasSubscribers(CHANNEL, userId);
    const asked = users === 'all' ? 'all' : [...users].filter(listening);
    if (asked !== 'all' && asked.length === 0) return;
    const counts = (await readModel.unreadCountsIn(chatId, asked)).filter((count) => listening(count.userId));
    if (counts.length === 0) return;
    await router.deliverLocal(counts.map((count) => unreadCountMessage(count.chatId, count.userId, count.unreadCount, cursor, occurredAt)));
  }
}

/** The chats whose counts a record's event changes, and whose counts: read from the channel messages the event published. */
function countChanges(messages: ChannelMessage[]): Pending[] {
  const changes: Pending[] = [];
  const note = (message: ChannelMessage, users: string[] | 'all') => {
    const { chatId, cursor, occurredAt } = message.meta;
    changes.push({ chatId, users: users === 'all' ? 'all' : new Set(users), cursor, occurredAt });
  };
  for (const message of messages) {
    switch (message.channel) {
      case 'messageAdded': {
        // Everyone else has one more; the sender has read up to it.
        const others = messages.find((other) => other.channel === 'chatMessageNotification')?.meta.userIds ?? [];
        note(message, [String(message.payload.senderId), ...others]);
        break;
      }
      case 'messageDeleted':
        note(message, 'all');
        break;
      case 'messageReadUpdated':
        note(message, [String(message.payload.userId)]);
        break;
      case 'chatAdded':
        note(message, message.meta.userIds ?? []);
        break;
      default:
        break;
    }
  }
  return changes;
}

function merge(a: Set<string> | 'all', b: Set<string> | 'all'): Set<string> | 'all' {
  if (a === 'all' || b === 'all') return 'all';
  for (const user of a) b.add(user);
  return b;
}
