import type { EntityManager } from '@mikro-orm/postgresql';
import { unreadCountMessage } from '../../application';
import type { Projection, StoredChatEvent } from './projection';

/**
 * Unread count per (chat, user) = messages above the user's read mark, sent by someone else, not
 * deleted (DESIGN.md §4). Counts that change are written to the outbox as unreadCountUpdated in the
 * same transaction, one value per (chat, user) per batch: the last one, as a quiet chat needs.
 */
export class UnreadCountsProjection implements Projection {
  readonly name = 'unread-counts';

  async apply(em: EntityManager, events: StoredChatEvent[], options = { quiet: false }): Promise<void> {
    const changed = new Map<string, { chatId: string; userId: string; count: number; cursor: string; occurredAt: string }>();
    const note = (stored: StoredChatEvent, rows: { user_id: string; unread_count: number }[]) => {
      for (const row of rows) {
        changed.set(`${stored.chatId}\u0000${row.user_id}`, {
          chatId: stored.chatId,
          userId: row.user_id,
          count: row.unread_count,
          cursor: stored.cursor,
          occurredAt: stored.occurredAt,
        });
      }
    };
    for (const stored of events) note(stored, await this.applyOne(em, stored));
    if (!options.quiet) await this.publish(em, [...changed.values()]);
  }

  async reset(em: EntityManager): Promise<void> {
    await em.execute('create temp table unread_counts_before on commit drop as select * from unread_counts');
    await em.execute('delete from unread_counts');
  }

  /** Subscribers hear only about counts the rebuild changed, with their current values. */
  async afterRebuild(em: EntityManager): Promise<void> {
    const rows = await em.execute<{ chat_id: string; user_id: string; unread_count: number; cursor: string }[]>(
      `select n.chat_id, n.user_id, n.unread_count, n.cursor from unread_counts n
       left join unread_counts_before b on b.chat_id = n.chat_id and b.user_id = n.user_id
       where b.unread_count is distinct from n.unread_count`,
    );
    const now = new Date().toISOString();
    await this.publish(em, rows.map((row) => ({ chatId: row.chat_id, userId: row.user_id, count: row.unread_count, cursor: row.cursor, occurredAt: now })));
  }

  /** Applies one event; answers the counts it changed. */
  private async applyOne(em: EntityManager, stored: StoredChatEvent): Promise<{ user_id: string; unread_count: number }[]> {
    const { event, chatId, version, cursor } = stored;
    switch (event.type) {
      case 'ChatCreated':
        return em.execute(
          `insert into unread_counts (chat_id, user_id, read_seq, unread_count, cursor)
           select ?, user_id, 0, 0, ? from jsonb_array_elements_text(?::jsonb) as user_id
           on conflict do nothing returning user_id, unread_count`,
          [chatId, cursor, JSON.stringify(event.data.participantIds)],
        );
      case 'ParticipantsAdded':
        // A new participant has read nothing: everything by others that exists as of this event.
        return em.execute(
          `insert into unread_counts (chat_id, user_id, read_seq, unread_count, cursor)
           select ?, user_id, 0, (${COUNT_AS_OF('user_id', '0')}), ?
           from jsonb_array_elements_text(?::jsonb) as user_id
           on conflict do nothing returning user_id, unread_count`,
          [chatId, chatId, version, version, cursor, JSON.stringify(event.data.userIds)],
        );
      case 'ParticipantsRemoved':
        await em.execute(
          'delete from unread_counts where chat_id = ? and user_id in (select jsonb_array_elements_text(?::jsonb))',
          [chatId, JSON.stringify(event.data.userIds)],
        );
        return [];
      case 'MessagePosted': {
        const { senderId, seq } = event.data;
        const others = await em.execute<{ user_id: string; unread_count: number }[]>(
          `update unread_counts set unread_count = unread_count + 1, cursor = ?
           where chat_id = ? and user_id <> ? and read_seq < ? returning user_id, unread_count`,
          [cursor, chatId, senderId, seq],
        );
        // Posting reads everything up to one's own message, and nothing is above the newest message.
        const sender = await em.execute<{ user_id: string; unread_count: number }[]>(
          `update unread_counts set read_seq = ?, unread_count = 0, cursor = ?
           where chat_id = ? and user_id = ? and (read_seq < ? or unread_count <> 0) returning user_id, unread_count`,
          [seq, cursor, chatId, senderId, seq],
        );
        return [...others, ...sender];
      }
      case 'MessageDeleted': {
        const { senderId, seq } = event.data;
        return em.execute(
          `update unread_counts set unread_count = unread_count - 1, cursor = ?
           where chat_id = ? and user_id <> ? and read_seq < ? returning user_id, unread_count`,
          [cursor, chatId, senderId, seq],
        );
      }
      case 'MessageRead': {
        const { userId, seq } = event.data;
        return em.execute(
          `update unread_counts set read_seq = ?, unread_count = (${COUNT_AS_OF('user_id', '?')}), cursor = ?
           where chat_id = ? and user_id = ? and read_seq < ? returning user_id, unread_count`,
          [seq, chatId, version, seq, version, cursor, chatId, userId, seq],
        );
      }
      case 'MessageEdited':
      case 'ChatRenamed':
        return [];
    }
  }

  private async publish(
    em: EntityManager,
    changes: { chatId: string; userId: string; count: number; cursor: string; occurredAt: string }[],
  ): Promise<void> {
    const byChat = new Map<string, typeof changes>();
    for (const change of changes) byChat.set(change.chatId, [...(byChat.get(change.chatId) ?? []), change]);
    for (const [chatId, chatChanges] of byChat) {
      const messages = chatChanges.map((c) => unreadCountMessage(c.chatId, c.userId, c.count, c.cursor, c.occurredAt));
      await em.execute('insert into outbox (chat_id, payload) values (?, ?::jsonb)', [chatId, JSON.stringify(messages)]);
    }
  }
}

/**
 * Messages of the chat, as of stream version `?` (bound twice), above read mark `mark`, sent by
 * someone other than `user`, not deleted by then. Binds: chat id, version, [mark], version.
 */
function COUNT_AS_OF(user: string, mark: string): string {
  return `select count(*)::int from messages m
    where m.chat_id = ? and m.version <= ? and m.seq > ${mark} and m.sender_id <> ${user}
      and (m.deleted_version is null or m.deleted_version > ?)`;
}
