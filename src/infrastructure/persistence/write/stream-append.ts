import type { Client } from 'pg';
import { encodeCursor, type ChatView } from '../../../application';
import { CHAT_SELECT, toChatView, type ChatRow } from '../chat-view-rows';
import type { AloneStep } from './append-plan';
import { isMessageEvent, type ChatEvent, type ChatState } from '../../../domain';
import { BatchedReadModels, eventParts, type SqlPart } from './inline-projections';
import { outboxPayload, partitionOf } from './outbox-payload';
import { execute, type PreparedStatement } from './pooled-client';

/** An event decided in this transaction, about to be appended to its chat's stream. */
export interface PendingEvent {
  eventId: string;
  chatId: string;
  version: number;
  occurredAt: string;
  event: ChatEvent;
  /** The chat as the event's channel messages show it. */
  chat: ChatState;
}

/**
 * Appends events with their outbox rows (one per event) and their read-model changes.
 *
 * Positions come from a sequence at insert, so the order of inserts is the order of the stream: a
 * chat's events go in version order, and within one transaction (one `tx_id`) position order is what
 * the relay, history and resume follow. The batched statement inserts many chats' events in the
 * order given: its insert reads them sorted by `ord`, and an INSERT takes each row's `nextval` as it
 * reads the row (data-modifying statements never run in parallel), so positions rise with `ord`
 * (test/integration/group-commit.int.spec.ts checks it). Outbox rows are inserted the same way, so
 * their ids, which order the relay, rise with the events' positions.
 */
export const APPEND_BATCHED: PreparedStatement = {
  name: 'parley_write_append',
  parameterTypes: ['json', 'json', 'json', 'json', 'json', 'json', 'json'],
  text: (() => {
    const readModels = new BatchedReadModels().parts(3).sql;
    return `with input_events as (
        select * from json_to_recordset($1::json) as i(ord int, event_id uuid, stream_id uuid, version int, type text,
          data jsonb, occurred_at timestamptz)),
      payloads as (select p.payload::jsonb as payload, p.ord - 1 as ord from json_array_elements($2::json) with ordinality as p(payload, ord)),
      new_events as (
        insert into events (event_id, stream_id, version, type, data, occurred_at)
        select event_id, stream_id, version, type, data, occurred_at from input_events order by ord
        returning event_id, stream_id, position, tx_id, tx_id::text || '.' || position::text as cursor),
      new_outbox as (
        insert into outbox (event_position, tx_id, chat_id, partition, payload)
        select e.position, e.tx_id, e.stream_id, ${partitionOf('e.stream_id')}, p.payload
        from input_events i join payloads p on p.ord = i.ord join new_events e on e.event_id = i.event_id
        order by i.ord),
      ${readModels}
      select event_id::text as event_id, position::text as position, tx_id::text as tx_id from new_events`;
  })(),
};

export type AppendedRow = { event_id: string; position: string; tx_id: string };

/**
 * The statement that appends events `BatchedReadModels` takes, of chats whose events in this batch
 * all fold, and how to read the cursors (by event id) from its rows.
 */
export function batchedAppend(events: PendingEvent[]): { sql: string; read(rows: AppendedRow[]): Map<string, string> } {
  return { sql: execute(APPEND_BATCHED, batchedParams(events)), read: (rows) => cursorsOf(events, rows) };
}

function batchedParams(events: PendingEvent[]): string[] {
  const readModels = new BatchedReadModels();
  const payloads = events.map((pending) => outboxPayload(pending.event, pending));
  // The batched statement writes no membership rows (they change the chat and go alone).
  const input = events.map((pending, ord) => {
    if (!BatchedReadModels.takes(pending.event)) throw new Error(`${pending.event.type} is appended on its own`);
    readModels.add(pending.event, pending.eventId, pending.version, pending.occurredAt);
    return {
      ord,
      event_id: pending.eventId,
      stream_id: pending.chatId,
      version: pending.version,
      type: pending.event.type,
      data: pending.event.data,
      occurred_at: pending.occurredAt,
    };
  });
  const { params } = readModels.parts(3);
  return [JSON.stringify(input), `[${payloads.map((payload) => payload.json).join(',')}]`, ...params];
}

function cursorsOf(events: PendingEvent[], rows: AppendedRow[]): Map<string, string> {
  const byId = new Map(rows.map((row) => [row.event_id, row]));
  const cursors = new Map<string, string>();
  for (const pending of events) {
    const row = byId.get(pending.eventId);
    if (!row) throw new Error(`event ${pending.eventId} was not appended`);
    cursors.set(pending.eventId, encodeCursor(row.tx_id, row.position));
  }
  return cursors;
}

/** Events one statement each, in the order given; answers their cursors by event id. */
export async function appendAlone(client: Client, events: PendingEvent[]): Promise<Map<string, string>> {
  return (await appendSteps(client, events.map((event) => ({ event })))).cursors;
}

/**
 * The steps of `planAppend` that go one statement each, in order: each event, and where a command
 * answers with its chat, the chat as that command left it, read in this transaction (so no later
 * change can slip into the answer: the append lock keeps every other writer out until commit).
 */
export async function appendSteps(client: Client, steps: AloneStep[]): Promise<{ cursors: Map<string, string>; views: Map<number, ChatView | null> }> {
  const cursors = new Map<string, string>();
  const views = new Map<number, ChatView | null>();
  for (const step of steps) {
    if ('event' in step) cursors.set(step.event.eventId, await appendOne(client, step.event));
    else views.set(step.view.index, await chatAsSeenBy(client, step.view.chatId, step.view.viewerId));
  }
  return { cursors, views };
}

async function chatAsSeenBy(client: Client, chatId: string, viewerId: string): Promise<ChatView | null> {
  const { rows } = await client.query<ChatRow>(
    `${CHAT_SELECT} left join chat_participants me on me.chat_id = c.id and me.user_id = $1 where c.id = $2`,
    [viewerId, chatId],
  );
  return rows[0] ? toChatView(rows[0]) : null;
}

/** One event in its own statement: the event, its outbox row and its read-model changes; answers its cursor. */
async function appendOne(client: Client, pending: PendingEvent): Promise<string> {
  const lastMessage = isMessageEvent(pending.event) ? null : await lastMessagePayload(client, pending.chatId);
  const { json, membership } = outboxPayload(pending.event, { ...pending, lastMessage });
  const parts: SqlPart[] = [
    {
      sql: `insert into outbox (event_position, tx_id, chat_id, partition, membership, payload)
            select position, tx_id, ?, ${partitionOf('?::uuid')}, ?, ?::jsonb from new_event`,
      params: [pending.chatId, pending.chatId, pending.chatId, membership, json],
    },
    ...eventParts(pending.event, pending.version, pending.occurredAt),
  ];
  const sql = `with new_event as (
       insert into events (event_id, stream_id, version, type, data, occurred_at)
       values (?, ?, ?, ?, ?::jsonb, ?)
       returning position, tx_id),
     new_cursor as (select tx_id::text || '.' || position::text as cursor from new_event),
     ${parts.map((part, i) => `part_${i} as (${part.sql})`).join(',\n     ')}
     select position::text as position, tx_id::text as tx_id from new_event`;
  const params = [
    pending.eventId, pending.chatId, pending.version, pending.event.type, JSON.stringify(pending.event.data), pending.occurredAt,
    ...parts.flatMap((part) => part.params),
  ];
  const { rows } = await client.query<{ position: string; tx_id: string }>(numbered(sql), params);
  return encodeCursor(rows[0]!.tx_id, rows[0]!.position);
}

/** `?` placeholders as node-postgres numbers them; the write path's SQL has no other question marks. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Chat.lastMessage for chat-level channel messages, read in this transaction (it sees the statements before). */
async function lastMessagePayload(client: Client, chatId: string): Promise<Record<string, unknown> | null> {
  const { rows } = await client.query<{ message: Record<string, unknown> }>(
    `select json_build_object('id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'content', m.content,
              'seq', m.seq, 'createdAt', m.created_at, 'isEdited', m.edited_at is not null,
              'editedAt', m.edited_at, 'cursor', m.cursor) as message
     from chats c join messages m on m.id = c.last_message_id where c.id = $1`,
    [chatId],
  );
  return rows[0]?.message ?? null;
}
