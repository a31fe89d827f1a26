import type { Client } from 'pg';

export interface BulkHistory {
  chats: number;
  eventsPerChat: number;
}

/**
 * A large event store made in one statement, for tests and benches that need a history far bigger
 * than posting through the API could make in their time: `chats` chats of u1, u2 and u3 (u1 created
 * them), each with `eventsPerChat` events after its creation: posts by the three in turn, and every
 * 50th event u2 or u3 reading the post before it. Valid events as the domain would have decided them
 * (seq and versions gapless, marks moving forward), without outbox rows or read-model rows: nothing
 * is published, and only a rebuild puts these chats into the read models. Answers the events written.
 */
export async function writeBulkHistory(client: Client, { chats, eventsPerChat }: BulkHistory): Promise<number> {
  const { rowCount } = await client.query(
    `with steps as (
       select c, k, md5('bulk-chat-' || c)::uuid as chat_id,
              '2026-01-01T00:00:00Z'::timestamptz + ((c * ($2::int + 1) + k) * interval '1 millisecond') as at,
              k - k / 50 as seq, (k - 1) - (k - 1) / 50 as read_seq
       from generate_series(1, $1::int) as c, generate_series(0, $2::int) as k)
     insert into events (event_id, stream_id, version, type, data, occurred_at)
     select md5('bulk-event-' || c || '.' || k)::uuid, chat_id, k + 1,
       case when k = 0 then 'ChatCreated' when k % 50 = 0 then 'MessageRead' else 'MessagePosted' end,
       case
         when k = 0 then jsonb_build_object('chatId', chat_id, 'name', 'bulk ' || c, 'participantIds', jsonb_build_array('u1', 'u2', 'u3'),
                                            'createdBy', 'u1', 'createdAt', at)
         when k % 50 = 0 then jsonb_build_object('chatId', chat_id, 'messageId', md5('bulk-message-' || c || '.' || read_seq)::uuid,
                                                 'userId', 'u' || (1 + (read_seq + 1) % 3), 'seq', read_seq, 'readAt', at)
         else jsonb_build_object('chatId', chat_id, 'messageId', md5('bulk-message-' || c || '.' || seq)::uuid,
                                 'senderId', 'u' || (1 + seq % 3), 'content', 'bulk message ' || seq || ' of chat ' || c,
                                 'seq', seq, 'clientMessageId', null, 'postedAt', at)
       end,
       at
     from steps order by c, k`,
    [chats, eventsPerChat],
  );
  return rowCount ?? 0;
}
