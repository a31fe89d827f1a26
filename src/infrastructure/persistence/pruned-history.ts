import type { EntityManager } from '@mikro-orm/postgresql';
import { compareCursors, decodeCursor, EVENT_TYPES_BY_CHANNEL, NOT_TO_SENDER, type PruningCheck, type ResumeScope } from '../../application';

/**
 * Whether a resume lost rows to outbox retention (DESIGN.md §4), judged against the event store, which
 * keeps every event: some event after the resume's cursor in its partition, at or before the newest
 * transaction pruned there (`outbox_pruned`), of a chat the resume follows, on its channel, that the
 * viewer could see, has no outbox row any more.
 *
 * So a quiet chat's old cursor is fine (its chat has no event in the pruned range), as is `head`, or any
 * cursor past the pruned range (no event qualifies): a client that reloads and subscribes from `head`
 * never meets CURSOR_EXPIRED again. Pruning keeps each chat's newest row, and such a row is no loss.
 *
 * The viewer "could see" an event when they were a participant once it had happened (the latest
 * membership event naming them at or before it, as `forUser` reads it), or it removed them.
 */
export async function missedByPruning(em: EntityManager, scope: ResumeScope, unlessMark?: string): Promise<PruningCheck> {
  const marks = await em.execute<{ partition: number; tx_id: string }[]>('select partition, tx_id::text as tx_id from outbox_pruned order by partition');
  const mark = marks.map((row) => `${row.partition}:${row.tx_id}`).join(',');
  const types = EVENT_TYPES_BY_CHANNEL[scope.channel];
  if (mark === unlessMark || types.length === 0) return { missed: false, mark };
  const ranges = marks
    .filter((row) => scope.chat === undefined || row.partition === scope.chat.partition)
    .map((row) => ({ partition: row.partition, after: scope.after.at(row.partition), prunedTx: row.tx_id }))
    // A cursor in a transaction after the newest one pruned from has nothing pruned after it.
    .filter((range) => compareCursors(range.after, `${range.prunedTx}.${MAX_POSITION}`) < 0);
  if (ranges.length === 0) return { missed: false, mark };

  const chats = scope.chat
    ? { sql: 'c.id = ?::uuid', params: [scope.chat.chatId] }
    : {
        sql: `c.id in (select p.chat_id from chat_participants p where p.user_id = ?
                       union
                       select r.stream_id from events r where r.type = 'ParticipantsRemoved' and r.data -> 'userIds' @> to_jsonb(?::text))`,
        params: [scope.viewerId, scope.viewerId],
      };
  const [row] = await em.execute<{ missed: boolean }[]>(
    `select exists (
       select 1 from unnest(?::int[], ?::text[], ?::text[], ?::text[]) as w(partition, after_tx, after_position, pruned_tx)
       join chats c on c.partition = w.partition and ${chats.sql}
       join events e on e.stream_id = c.id
         and (e.tx_id, e.position) > (w.after_tx::xid8, w.after_position::bigint) and e.tx_id <= w.pruned_tx::xid8
       where e.type = any(?::text[])
         and not (?::boolean and e.data ->> 'senderId' = ?)
         -- An addition is chatAdded to those added and chatUpdated to those already there.
         and not (e.type = 'ParticipantsAdded' and ?::text = 'chatAdded' and not (e.data -> 'userIds' @> to_jsonb(?::text)))
         and not (e.type = 'ParticipantsAdded' and ?::text = 'chatUpdated' and e.data -> 'userIds' @> to_jsonb(?::text))
         and not exists (select 1 from outbox o where o.chat_id = e.stream_id and o.tx_id = e.tx_id and o.event_position = e.position)
         and (
           (e.type = 'ParticipantsRemoved' and e.data -> 'userIds' @> to_jsonb(?::text))
           or coalesce((select m.type <> 'ParticipantsRemoved' from events m
                        where m.stream_id = e.stream_id and m.type in ('ChatCreated', 'ParticipantsAdded', 'ParticipantsRemoved')
                          and (m.tx_id, m.position) <= (e.tx_id, e.position)
                          and (m.data -> 'userIds' @> to_jsonb(?::text) or m.data -> 'participantIds' @> to_jsonb(?::text))
                        order by m.tx_id desc, m.position desc limit 1), false))
     ) as missed`,
    [
      `{${ranges.map((range) => range.partition).join(',')}}`,
      `{${ranges.map((range) => decodeCursor(range.after)!.txId).join(',')}}`,
      `{${ranges.map((range) => decodeCursor(range.after)!.position).join(',')}}`,
      `{${ranges.map((range) => range.prunedTx).join(',')}}`,
      ...chats.params,
      `{${types.join(',')}}`,
      NOT_TO_SENDER.includes(scope.channel),
      scope.viewerId,
      scope.channel,
      scope.viewerId,
      scope.channel,
      scope.viewerId,
      scope.viewerId,
      scope.viewerId,
      scope.viewerId,
    ],
  );
  return { missed: row?.missed === true, mark };
}

/** Above any event position: `<pruned tx>.<this>` is the end of the pruned transaction. */
const MAX_POSITION = String(2n ** 63n - 1n);
