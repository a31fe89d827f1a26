import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { channelMessagesFor, ChatUnitOfWork, packChannelMessages, type ChatSession, type RecordedEvent } from '../../application';
import {
  evolveChat,
  initialChatState,
  isMessageEvent,
  type ChatEvent,
  type ChatState,
  type MessageState,
} from '../../domain';
import { encodeCursor } from '../../application';
import { isUuid } from './uuid';
import { readModelParts, type SqlPart } from './read-model-writer';
import { randomUUID } from 'node:crypto';

/** Listeners told after a transaction with new events has committed (the relay's wake-up in one process). */
export type CommitListener = (events: RecordedEvent[]) => void;

const MAX_ATTEMPTS = 20;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/**
 * One transaction per command. Writers to one chat take turns on a transaction-scoped advisory lock
 * for the chat, so concurrent posts from any number of instances queue instead of failing; the unique
 * (stream_id, version) constraint stays as the optimistic-concurrency guard, and a conflict it raises
 * (a writer that bypassed the lock) is retried with fresh state.
 *
 * An advisory lock, not `select … for update`: locking a row gives the transaction its id before it
 * waits, so writers would hold ids in arrival order but commit in lock order, and the relay, which
 * orders by transaction id, would publish a chat's messages out of seq order. The advisory lock takes
 * no id; the first insert, after the lock, does.
 */
export class PostgresChatUnitOfWork extends ChatUnitOfWork {
  private readonly listeners: CommitListener[] = [];

  constructor(private readonly orm: MikroORM) {
    super();
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  async run<T>(chatId: string, work: (session: ChatSession) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        // PostgreSQL compares UUIDs case-blind, the advisory lock key does not: one chat, one key.
        const session = new PostgresChatSession(isUuid(chatId) ? chatId.toLowerCase() : chatId);
        const result = await this.orm.em.fork().transactional(async (em) => {
          session.bind(em);
          return work(session);
        });
        if (session.recorded.length > 0) this.notify(session.recorded);
        return result;
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
        await backoff(attempt);
      }
    }
  }

  private notify(events: RecordedEvent[]): void {
    for (const listener of this.listeners) listener(events);
  }
}

class PostgresChatSession implements ChatSession {
  readonly recorded: RecordedEvent[] = [];
  private em!: EntityManager;
  private loaded: { state: ChatState; version: number } | null = null;

  constructor(private readonly chatId: string) {}

  bind(em: EntityManager): void {
    this.em = em;
  }

  async loadChat(): Promise<ChatState> {
    if (!isUuid(this.chatId)) {
      this.loaded = { state: initialChatState(this.chatId), version: 0 };
      return this.loaded.state;
    }
    // Held until commit. Events after the snapshot's version (none while every append updates it, some
    // after a restore) are folded on top: the stream stays the source of truth.
    await this.em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [this.chatId]);
    const [row] = await this.em.execute<{ version: number | null; state: ChatState | null; tail: StoredEvent[] }[]>(
      `with snapshot as (select version, state from chat_snapshots where chat_id = ?)
       select (select version from snapshot) as version,
              (select state from snapshot) as state,
              coalesce((select json_agg(json_build_object('version', e.version, 'type', e.type, 'data', e.data)
                                        order by e.version)
                        from events e
                        where e.stream_id = ? and e.version > coalesce((select version from snapshot), 0)), '[]') as tail`,
      [this.chatId, this.chatId],
    );
    let state = row?.state ?? initialChatState(this.chatId);
    let version = row?.version ?? 0;
    for (const stored of row?.tail ?? []) {
      state = evolveChat(state, { type: stored.type, data: stored.data } as ChatEvent);
      version = stored.version;
    }
    this.loaded = { state, version };
    return state;
  }

  async loadMessage(messageId: string): Promise<MessageState | null> {
    if (!isUuid(messageId)) return null;
    const [row] = await this.em.execute<MessageRow[]>(
      `select id, chat_id, sender_id, seq, content, client_message_id, created_at, deleted_at is not null as deleted
       from messages where id = ?`,
      [messageId],
    );
    return row ? toMessageState(row) : null;
  }

  async findPost(senderId: string, clientMessageId: string): Promise<MessageState | null> {
    if (!isUuid(this.chatId)) return null;
    const [row] = await this.em.execute<MessageRow[]>(
      `select id, chat_id, sender_id, seq, content, client_message_id, created_at, deleted_at is not null as deleted
       from messages where chat_id = ? and sender_id = ? and client_message_id = ?`,
      [this.chatId, senderId, clientMessageId],
    );
    return row ? toMessageState(row) : null;
  }

  async append(events: ChatEvent[]): Promise<RecordedEvent[]> {
    if (!this.loaded) throw new Error('append before loadChat: the expected version is unknown');
    if (events.length === 0) return [];
    let { state, version } = this.loaded;
    const recorded: RecordedEvent[] = [];
    const finalState = events.reduce(evolveChat, state);
    const lastMessage = events.some(isChatLevel) ? await this.lastMessagePayload() : null;
    for (const [index, event] of events.entries()) {
      version += 1;
      state = evolveChat(state, event);
      // Chat-level messages show the chat as the whole command left it; message-level ones need only the event.
      const chat = isChatLevel(event) ? finalState : state;
      const snapshot = index === events.length - 1 ? { version, state } : null;
      recorded.push(await this.insertEvent(event, version, chat, lastMessage, snapshot));
    }
    this.loaded = { state, version };
    this.recorded.push(...recorded);
    return recorded;
  }

  /**
   * One statement per event: the event, its outbox row, the read models it changes and, with the
   * command's last event, the chat's snapshot.
   */
  private async insertEvent(
    event: ChatEvent,
    version: number,
    chat: ChatState,
    lastMessage: Record<string, unknown> | null,
    snapshot: { version: number; state: ChatState } | null,
  ): Promise<RecordedEvent> {
    const eventId = randomUUID();
    const occurredAt = occurrenceTime(event);
    const messages = channelMessagesFor(event, { eventId, occurredAt, chat, lastMessage });
    const parts: SqlPart[] = [
      {
        sql: `insert into outbox (event_position, tx_id, chat_id, payload) select position, tx_id, ?, ?::jsonb from new_event`,
        params: [this.chatId, JSON.stringify(packChannelMessages(messages))],
      },
      ...readModelParts(event, version, occurredAt),
    ];
    if (snapshot) {
      parts.push({
        sql: `insert into chat_snapshots (chat_id, version, state) values (?, ?, ?::jsonb)
              on conflict (chat_id) do update set version = excluded.version, state = excluded.state`,
        params: [this.chatId, snapshot.version, JSON.stringify(snapshot.state)],
      });
    }
    const [row] = await this.em.execute<{ position: string; tx_id: string }[]>(
      `with new_event as (
         insert into events (event_id, stream_id, version, type, data, occurred_at)
         values (?, ?, ?, ?, ?::jsonb, ?)
         returning position, tx_id),
       new_cursor as (select tx_id::text || '.' || position::text as cursor from new_event),
       ${parts.map((part, i) => `part_${i} as (${part.sql})`).join(',\n       ')}
       select position::text as position, tx_id::text as tx_id from new_event`,
      [eventId, this.chatId, version, event.type, JSON.stringify(event.data), occurredAt, ...parts.flatMap((part) => part.params)],
    );
    return {
      eventId,
      chatId: this.chatId,
      version,
      cursor: encodeCursor(row!.tx_id, row!.position),
      occurredAt,
      event,
    };
  }

  /** Chat.lastMessage for chat-level channel messages, read in this transaction. */
  private async lastMessagePayload(): Promise<Record<string, unknown> | null> {
    const [row] = await this.em.execute<{ message: Record<string, unknown> | null }[]>(
      `select json_build_object('id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'content', m.content,
                'seq', m.seq, 'createdAt', m.created_at, 'isEdited', m.edited_at is not null,
                'editedAt', m.edited_at, 'cursor', m.cursor) as message
       from chats c join messages m on m.id = c.last_message_id where c.id = ?`,
      [this.chatId],
    );
    return row?.message ?? null;
  }
}

function isChatLevel(event: ChatEvent): boolean {
  return !isMessageEvent(event);
}

interface StoredEvent {
  version: number;
  type: ChatEvent['type'];
  data: unknown;
}

interface MessageRow {
  id: string;
  chat_id: string;
  sender_id: string;
  seq: number;
  content: string;
  client_message_id: string | null;
  created_at: Date;
  deleted: boolean;
}

function toMessageState(row: MessageRow): MessageState {
  return {
    messageId: row.id,
    chatId: row.chat_id,
    senderId: row.sender_id,
    seq: row.seq,
    content: row.content,
    clientMessageId: row.client_message_id,
    postedAt: new Date(row.created_at).toISOString(),
    deleted: row.deleted,
  };
}

/** Every event carries the time its command was issued; this picks it out for the indexed column. */
export function occurrenceTime(event: ChatEvent): string {
  switch (event.type) {
    case 'ChatCreated':
      return event.data.createdAt;
    case 'ChatRenamed':
      return event.data.renamedAt;
    case 'ParticipantsAdded':
      return event.data.addedAt;
    case 'ParticipantsRemoved':
      return event.data.removedAt;
    case 'MessagePosted':
      return event.data.postedAt;
    case 'MessageEdited':
      return event.data.editedAt;
    case 'MessageDeleted':
      return event.data.deletedAt;
    case 'MessageRead':
      return event.data.readAt;
  }
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  if (code && RETRYABLE_SQLSTATES.has(code)) return true;
  // The version guard: another writer appended the same version first.
  const constraint = (error as { constraint?: string }).constraint;
  return code === '23505' && constraint === 'events_stream_version_unique';
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(100, 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
