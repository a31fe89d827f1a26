import { compareCursors } from './cursor';

/** What the timeline needs of a message: the fields of Parley's `Message` type that order and identify it. */
export interface TimelineMessage {
  id: string;
  seq: number;
  /** The cursor of the last event that changed the message (its post, or its latest edit). */
  cursor: string;
}

/**
 * The messages of one chat, merged by id from history pages and live subscriptions, in `seq` order.
 *
 * `messageAdded`, `messageUpdated` and `messageDeleted` are separate subscriptions, so after a resume
 * their payloads may arrive in any order across them (an edit before the post it edits). Each
 * message therefore keeps the version with the newest cursor, and a deletion is final: a late copy of
 * a deleted message never brings it back.
 */
export class MessageTimeline<M extends TimelineMessage> {
  private readonly byId = new Map<string, M>();
  private readonly deleted = new Set<string>();

  /** Adds or updates a message; answers whether anything changed. */
  upsert(message: M): boolean {
    if (this.deleted.has(message.id)) return false;
    const known = this.byId.get(message.id);
    if (known && !isNewer(message.cursor, known.cursor)) return false;
    this.byId.set(message.id, message);
    return true;
  }

  /** Removes a message for good; answers whether it was shown. */
  remove(id: string): boolean {
    this.deleted.add(id);
    return this.byId.delete(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): M | undefined {
    return this.byId.get(id);
  }

  /** Ascending `seq`. */
  messages(): M[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq);
  }

  newest(): M | undefined {
    let newest: M | undefined;
    for (const message of this.byId.values()) if (!newest || message.seq > newest.seq) newest = message;
    return newest;
  }

  oldest(): M | undefined {
    let oldest: M | undefined;
    for (const message of this.byId.values()) if (!oldest || message.seq < oldest.seq) oldest = message;
    return oldest;
  }

  get size(): number {
    return this.byId.size;
  }
}

function isNewer(candidate: string, known: string): boolean {
  const order = compareCursors(candidate, known);
  return order === null ? candidate !== known : order > 0;
}
