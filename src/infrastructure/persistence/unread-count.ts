/**
 * Unread count for (chat, user), DESIGN.md §4: messages above the user's read mark, sent by someone
 * else, not deleted. Computed when asked, from what every write transaction keeps anyway, instead of
 * a counter per participant that each post would have to rewrite (DESIGN.md §2 "Cost"):
 *
 *   unread = (chats.last_seq − read_seq) − deleted messages above the mark − own messages above it
 *
 * `seq` is gapless (deleted messages keep their row), so `last_seq − read_seq` messages lie above the
 * mark. Posting moves the poster's mark to the new message, so a member's own messages are above
 * their mark only after they left and were added again (their mark starts afresh at 0);
 * `last_own_seq > read_seq` says when, and only then are they counted. Deleted messages are found by
 * the partial index `messages_deleted_by_chat`. Exact and read-your-writes, like the rows it reads.
 *
 * An SQL expression over the member's row as `me` and the chat's as `c`.
 */
export const UNREAD_COUNT = `(c.last_seq - me.read_seq
    - (select count(*) from messages d
       where d.chat_id = me.chat_id and d.seq > me.read_seq and d.deleted_at is not null)
    - case when me.last_own_seq > me.read_seq then (
        select count(*) from messages o
        where o.chat_id = me.chat_id and o.seq > me.read_seq and o.sender_id = me.user_id and o.deleted_at is null)
      else 0 end)::int`;
