import type { MikroORM } from '@mikro-orm/postgresql';
import { compareCursors, decodeCursor, type ChannelMessage, type ChannelName, type RelayedRecord } from '../../application';
import { UNREAD_COUNT } from '../persistence/unread-count';

/** Publishes each (channel, text) with classic PUBLISH, pipelined; the channel without the prefix. */
export type ClassicPublish = (messages: readonly (readonly [channel: string, text: string])[]) => Promise<void>;

export interface BroadcastChannelsOptions {
  orm: MikroORM;
  publish: ClassicPublish;
  onError(error: unknown): void;
}

/** The meta of a message on an original channel (DESIGN.md §3), as consumers outside Parley read it. */
interface BroadcastMeta {
  eventId: string;
  cursor: string;
  chatId: string;
  seq?: number;
  occurredAt: string;
  /** The per-user kinds: exactly the users the message is for. */
  userIds?: string[];
  /** chatUpdated of a removal: the users who lost the chat (also in `userIds`). */
  removedUserIds?: string[];
}

/** What the page's chats look like now, and how their membership changed since the page's first row of each. */
interface ChatNow {
  /** Current participants and their unread counts (DESIGN.md §4), read at relay time. */
  counts: Map<string, number>;
  /** Membership events after the chat's first row in the page, oldest first. */
  changes: { cursor: string; type: 'ParticipantsAdded' | 'ParticipantsRemoved'; userIds: string[] }[];
  /** Participants as of a number of changes still to come, computed once each. */
  membersBefore: Map<number, Set<string>>;
}

/**
 * The nine original global channels (DESIGN.md §3 "The original channels, for integrations"), published
 * with classic PUBLISH when REDIS_BROADCAST_CHANNELS=true, after the relay published a page's rows on
 * their sharded channels. Each message is JSON `{ "<channel>": <payload>, "meta": … }`, the payload
 * shaped exactly as the GraphQL type of §5 with its `cursor`.
 *
 * Who a per-user message is for: `meta.userIds`. `chatMessageNotification` and
 * `messageUpdateForChatList` name the post's recipients (the participants when it was posted, but its
 * sender); `chatAdded` / `chatUpdated` the users the stored row names, split into one message per
 * `Chat.unreadCount` value (it differs per viewer), so every user named in a message has exactly that
 * count; `unreadCountUpdated` is one message per user. Posts' rows carry no recipients (§3), so they are
 * resolved here: one query per page reads every affected chat's current participants with their unread
 * counts, and the chat's membership events since the page's first row of it, from which the
 * participants at each post are unwound. Counts are current values read at relay time: a page that
 * changes a user's count in a chat several times sends it once, after the last of those rows.
 *
 * Best effort, outside Parley's guarantees: a failure here (a query, Redis) is logged and the page's
 * messages on these channels are not sent again, while the sharded publish, its ticks and checkpoint go
 * on untouched. Rows the relay publishes again (after a restart or a fail-over) are sent again here. So
 * a consumer may see a message twice (`meta.eventId`, plus `meta.userIds` for per-user kinds, names it)
 * or miss one; what must not miss uses Parley's subscriptions with their cursors. Order: a chat's
 * messages go out in commit order; chats of partitions led by different relays interleave.
 */
export class BroadcastChannels {
  constructor(private readonly options: BroadcastChannelsOptions) {}

  /** Never throws: a failure is logged, and the page is not published on these channels. */
  async publishPage(records: readonly RelayedRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      const rows = [...records].sort((a, b) => compareCursors(a.position, b.position));
      const chats = await this.readChats(rows);
      await this.options.publish(this.messagesOf(rows, chats));
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      this.options.onError(new Error(`${records.length} relayed rows were not published on the original channels (REDIS_BROADCAST_CHANNELS): ${reason}`));
    }
  }

  /** One query for the page: each affected chat's participants and counts now, and its membership events since its first row here. */
  private async readChats(rows: RelayedRecord[]): Promise<Map<string, ChatNow>> {
    const first = new Map<string, string>();
    for (const row of rows) {
      const cursor = row.messages[0]?.meta.cursor;
      if (!first.has(row.chatId) && cursor && decodeCursor(cursor)) first.set(row.chatId, cursor);
    }
    const chats = new Map<string, ChatNow>();
    if (first.size === 0) return chats;
    const entries = [...first].map(([chatId, cursor]) => ({ chatId, cursor: decodeCursor(cursor)! }));
    const result = await this.options.orm.em.fork().execute<
      { kind: 'member' | 'change'; chat_id: string; user_id: string | null; unread_count: number | null; type: string | null; user_ids: string[] | null; tx_id: string | null; position: string | null }[]
    >(
      `with page as (select * from unnest(?::uuid[], ?::xid8[], ?::bigint[]) as p(chat_id, tx_id, position))
       select 'member' as kind, me.chat_id::text as chat_id, me.user_id, ${UNREAD_COUNT} as unread_count,
              null::text as type, null::jsonb as user_ids, null::text as tx_id, null::text as position
       from page p join chat_participants me on me.chat_id = p.chat_id join chats c on c.id = me.chat_id
       union all
       select 'change', e.stream_id::text, null, null, e.type, e.data -> 'userIds', e.tx_id::text, e.position::text
       from page p join events e on e.stream_id = p.chat_id and (e.tx_id, e.position) > (p.tx_id, p.position)
       where e.type in ('ParticipantsAdded', 'ParticipantsRemoved')`,
      [
        `{${entries.map(({ chatId }) => chatId).join(',')}}`,
        `{${entries.map(({ cursor }) => cursor.txId.toString()).join(',')}}`,
        `{${entries.map(({ cursor }) => cursor.position.toString()).join(',')}}`,
      ],
    );
    const chatOf = (chatId: string) => {
      let chat = chats.get(chatId.toLowerCase());
      if (!chat) chats.set(chatId.toLowerCase(), (chat = { counts: new Map(), changes: [], membersBefore: new Map() }));
      return chat;
    };
    for (const row of result) {
      const chat = chatOf(row.chat_id);
      if (row.kind === 'member') chat.counts.set(row.user_id!, Number(row.unread_count));
      else chat.changes.push({ cursor: `${row.tx_id}.${row.position}`, type: row.type as ChatNow['changes'][number]['type'], userIds: row.user_ids ?? [] });
    }
    for (const chat of chats.values()) chat.changes.sort((a, b) => compareCursors(a.cursor, b.cursor));
    return chats;
  }

  /** Every message of the page on the original channels, in the rows' order; unread counts after the last row that changes each. */
  private messagesOf(rows: RelayedRecord[], chats: Map<string, ChatNow>): [string, string][] {
    const out: [string, string][] = [];
    const send = (channel: ChannelName, payload: Record<string, unknown>, meta: BroadcastMeta) => out.push([channel, JSON.stringify({ [channel]: payload, meta })]);
    const countsChanged = rows.map((row) => this.countsChangedBy(row, chats));
    const lastChange = new Map<string, number>();
    countsChanged.forEach((users, index) => users.forEach((user) => lastChange.set(`${rows[index]!.chatId}\u0000${user}`, index)));

    rows.forEach((row, index) => {
      const chat = chats.get(row.chatId.toLowerCase());
      for (const message of row.messages) {
        const meta = baseMeta(message);
        const { payload } = message;
        switch (message.channel) {
          case 'messageAdded':
          case 'messageUpdated':
            send(message.channel, messageShape(payload), meta);
            break;
          case 'messageDeleted':
            send(message.channel, { id: payload.id, chatId: payload.chatId, cursor: payload.cursor }, meta);
            break;
          case 'messageReadUpdated':
            send(message.channel, { messageId: payload.messageId, chatId: payload.chatId, userId: payload.userId, readAt: iso(payload.readAt), cursor: payload.cursor }, meta);
            break;
          case 'chatMessageNotification':
          case 'messageUpdateForChatList': {
            const senderId = String(payload.senderId);
            const recipients = [...this.membersAt(chat, meta.cursor)].filter((user) => user !== senderId);
            // Nobody but the sender in the chat: nobody to tell.
            if (recipients.length === 0) break;
            send(message.channel, { chatId: payload.chatId, message: messageShape(payload.message as Record<string, unknown>), senderId, cursor: payload.cursor }, { ...meta, userIds: recipients });
            break;
          }
          case 'chatAdded':
          case 'chatUpdated': {
            // Chat.unreadCount is the viewer's: one message per count, naming the users who have it.
            const byCount = new Map<number, string[]>();
            for (const user of message.meta.userIds ?? []) {
              const count = chat?.counts.get(user) ?? 0;
              byCount.set(count, [...(byCount.get(count) ?? []), user]);
            }
            const removed = message.meta.removedUserIds;
            for (const [unreadCount, userIds] of byCount) {
              send(message.channel, chatShape(payload, unreadCount), { ...meta, userIds, ...(removed?.length ? { removedUserIds: [...removed] } : {}) });
            }
            break;
          }
          case 'unreadCountUpdated':
            // Receivers make these; the outbox holds none.
            break;
        }
      }
      const source = row.messages[0];
      if (!source) return;
      for (const userId of countsChanged[index]!) {
        if (lastChange.get(`${row.chatId}\u0000${userId}`) !== index) continue;
        const unreadCount = chat?.counts.get(userId);
        // No longer a participant: the user has no count in this chat to tell of.
        if (unreadCount === undefined) continue;
        send('unreadCountUpdated', { chatId: source.meta.chatId, userId, unreadCount, cursor: source.meta.cursor }, { ...baseMeta(source), userIds: [userId] });
      }
    });
    return out;
  }

  /**
   * The users whose count in the row's chat its event changes, as receivers count them
   * (interfaces/realtime/unread-count-frames.ts): a post's recipients and its sender (whose mark moved
   * to it), everyone on a deletion, the reader on a read, the users a chat was added to.
   */
  private countsChangedBy(row: RelayedRecord, chats: Map<string, ChatNow>): string[] {
    const chat = chats.get(row.chatId.toLowerCase());
    const users = new Set<string>();
    for (const message of row.messages) {
      if (message.channel === 'messageAdded') {
        users.add(String(message.payload.senderId));
        for (const user of this.membersAt(chat, message.meta.cursor)) users.add(user);
      } else if (message.channel === 'messageDeleted') {
        for (const user of this.membersAt(chat, message.meta.cursor)) users.add(user);
      } else if (message.channel === 'messageReadUpdated') {
        users.add(String(message.payload.userId));
      } else if (message.channel === 'chatAdded') {
        for (const user of message.meta.userIds ?? []) users.add(user);
      }
    }
    return [...users];
  }

  /** The participants right after the event at `cursor`: today's, with the membership changes committed since undone. */
  private membersAt(chat: ChatNow | undefined, cursor: string): Set<string> {
    if (!chat) return new Set();
    const after = chat.changes.findIndex((change) => compareCursors(change.cursor, cursor) > 0);
    const pending = after < 0 ? 0 : chat.changes.length - after;
    let members = chat.membersBefore.get(pending);
    if (members) return members;
    members = new Set(chat.counts.keys());
    for (let index = chat.changes.length - 1; index >= chat.changes.length - pending; index--) {
      const change = chat.changes[index]!;
      for (const user of change.userIds) {
        if (change.type === 'ParticipantsAdded') members.delete(user);
        else members.add(user);
      }
    }
    chat.membersBefore.set(pending, members);
    return members;
  }
}

function baseMeta(message: ChannelMessage): BroadcastMeta {
  const { eventId, cursor, chatId, seq, occurredAt } = message.meta;
  return { eventId, cursor, chatId, ...(seq === undefined ? {} : { seq }), occurredAt: iso(occurredAt)! };
}

/** Message, field for field (DESIGN.md §5). */
function messageShape(message: Record<string, unknown>): Record<string, unknown> {
  return {
    id: message.id,
    chatId: message.chatId,
    senderId: message.senderId,
    content: message.content,
    seq: message.seq,
    createdAt: iso(message.createdAt),
    isEdited: Boolean(message.isEdited),
    editedAt: iso(message.editedAt),
    cursor: message.cursor,
  };
}

/** Chat, field for field (DESIGN.md §5), with the unread count of the users the message names. */
function chatShape(chat: Record<string, unknown>, unreadCount: number): Record<string, unknown> {
  const lastMessage = chat.lastMessage as Record<string, unknown> | null | undefined;
  return {
    id: chat.id,
    name: chat.name,
    participantIds: chat.participantIds,
    createdBy: chat.createdBy,
    createdAt: iso(chat.createdAt),
    updatedAt: iso(chat.updatedAt),
    lastMessage: lastMessage ? messageShape(lastMessage) : null,
    unreadCount,
    cursor: chat.cursor,
  };
}

/** DateTime as the GraphQL scalar writes it: ISO-8601 in UTC with milliseconds. */
function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const date = new Date(value as string);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}
