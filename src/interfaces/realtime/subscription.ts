import type { DocumentNode } from 'graphql';
import { compareCursors, type ChannelMessage } from '../../application';
import type { SubscriptionField } from './subscription-fields';

/** Where a subscriber hears from: every message of a channel for one chat, or for one user. */
export function routeKey(channel: string, target: string): string {
  return `${channel}\u0000${target}`;
}

/**
 * Subscribers that would receive the same bytes for the same message share a group: the payload is
 * executed and serialised once per group and message (DESIGN.md §4, issue 3 "Routing by index").
 */
export interface PayloadGroup {
  key: string;
  document: DocumentNode;
  operationName: string | null;
  variables: Record<string, unknown>;
  fieldName: string;
}

export interface FrameSink {
  /** Queues one text frame; closes the connection instead when its bounded send buffer is full. */
  send(frame: string): void;
  readonly viewerId: string;
}

export class Subscription {
  /** Non-null while the subscriber is replaying history: live messages wait here meanwhile. */
  pending: ChannelMessage[] | null = null;
  /** False once completed, revoked or closed: nothing more may be sent for it. */
  active = true;
  private lastCursor: string | null;
  private readonly lastCursorByChat = new Map<string, string>();

  constructor(
    readonly id: string,
    readonly sink: FrameSink,
    readonly field: SubscriptionField,
    readonly group: PayloadGroup,
    readonly args: Record<string, unknown>,
    readonly routeKey: string,
    after: string | null,
  ) {
    this.lastCursor = after;
  }

  get viewerId(): string {
    return this.sink.viewerId;
  }

  /** At most once and in order: a message at or before what this subscriber already got is dropped. */
  isNew(message: ChannelMessage): boolean {
    if (this.field.accepts && !this.field.accepts(message, this.args)) return false;
    const last = this.field.orderedPer === 'chat' ? this.lastCursorByChat.get(message.meta.chatId) ?? this.lastCursor : this.lastCursor;
    return last === null || compareCursors(message.meta.cursor, last) > 0;
  }

  markSent(message: ChannelMessage): void {
    if (this.field.orderedPer === 'chat') this.lastCursorByChat.set(message.meta.chatId, message.meta.cursor);
    else this.lastCursor = message.meta.cursor;
  }

  /** The protocol frame, with the payload already serialised once for the whole group. */
  frame(payloadJson: string): string {
    return `{"id":${JSON.stringify(this.id)},"type":"next","payload":${payloadJson}}`;
  }
}
