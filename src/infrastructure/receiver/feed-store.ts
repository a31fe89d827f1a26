import type { MikroORM } from '@mikro-orm/postgresql';
import { compareCursors, decodeCursor, encodeCursor, NO_ROW, unpackChannelMessages, type RelayedRecord } from '../../application';
import { OUTBOX_PAGE, readOutboxPage } from '../persistence/outbox-page';
import { isUuid } from '../persistence/uuid';
import { toRelayedRecord } from '../relay/outbox-reader';

/** A chat a receiver starts to follow: its partition and its newest row, as they stand. */
export interface ChatPosition {
  chatId: string;
  partition: number;
  lastRow: string;
}

/** Where a receiver starts following a chat (see FeedStore.startingPoints). */
export interface ChatStart {
  lastRow: string;
  users: string[];
  /** The users that the chat's membership rows after the position the receiver gave for it name. */
  membershipUsers: string[];
}

/** What a receiver reads from PostgreSQL to follow chats by interest (DESIGN.md §4). */
export class FeedStore {
  constructor(private readonly orm: MikroORM) {}

  /** The partitions of chats (those that exist). */
  async partitionsOf(chatIds: string[]): Promise<Map<string, number>> {
    const ids = chatIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await this.orm.em.fork().execute<{ id: string; partition: number }[]>(
      'select id::text as id, partition from chats where id = any(?::uuid[])',
      [`{${ids.join(',')}}`],
    );
    return new Map(rows.map((row) => [row.id, row.partition]));
  }

  /** The chats each user is in now, with their partitions, in one read. */
  async chatsOfUsers(userIds: string[]): Promise<Map<string, Map<string, number>>> {
    const byUser = new Map<string, Map<string, number>>(userIds.map((userId) => [userId, new Map()]));
    if (userIds.length === 0) return byUser;
    const rows = await this.orm.em.fork().execute<{ user_id: string; id: string; partition: number }[]>(
      `select p.user_id, c.id::text as id, c.partition from chat_participants p join chats c on c.id = p.chat_id
       where p.user_id in (select jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(userIds)],
    );
    for (const row of rows) byUser.get(row.user_id)?.set(row.id, row.partition);
    return byUser;
  }

  /**
   * Each chat's newest row ('0.0' for none; read after subscribing, so nothing later can be missed),
   * which of `users` are its participants, and, for a chat given a position in `membershipSince`,
   * whom its membership rows after that position name; all in one snapshot. The membership rows up to
   * the newest row are history to a receiver that starts following the chat there, so who of its users
   * is in the chat must be read as of that very row, and a membership row the receiver has not handled
   * yet (after `membershipSince`) may concern a user of its own who joined and left since.
   */
  async startingPoints(
    chatIds: string[],
    users: string[],
    membershipSince: ReadonlyMap<string, string> = new Map(),
  ): Promise<Map<string, ChatStart>> {
    const ids = chatIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    // Array literals, as for the ids: positions are digits and a dot, NULL where none was given.
    const since = `{${ids.map((id) => membershipSince.get(id) ?? 'NULL').join(',')}}`;
    const rows = await this.orm.em.fork().execute<{ id: string; last: string | null; users: string[] | null; changes: unknown[][] | null }[]>(
      `select f.id::text as id,
              (select o.tx_id::text || '.' || o.id::text from outbox o where o.chat_id = f.id
               order by o.tx_id desc, o.id desc limit 1) as last,
              (select json_agg(p.user_id) from chat_participants p
               where p.chat_id = f.id and p.user_id in (select jsonb_array_elements_text(?::jsonb))) as users,
              (select json_agg(o.payload) from outbox o where f.since is not null and o.chat_id = f.id and o.membership
               and (o.tx_id, o.id) > (split_part(f.since, '.', 1)::xid8, split_part(f.since, '.', 2)::bigint)) as changes
       from unnest(?::uuid[], ?::text[]) as f(id, since)`,
      [JSON.stringify(users), `{${ids.join(',')}}`, since],
    );
    return new Map(rows.map((row) => [row.id, { lastRow: row.last ?? NO_ROW, users: row.users ?? [], membershipUsers: namedUsers(row.changes ?? []) }]));
  }

  /**
   * The rows of these chats after each one's position and at or before `upTo`, in relay order, one
   * page at a time (`more`: read on after the last), and with `membership`, the membership rows of
   * that partition after its position too (whatever their chat: how a receiver learns, after a loss,
   * that a local user joined a chat it does not follow). Read from the lowest position of them all and
   * filtered here: the chats of one partition are usually near one another.
   */
  async rowsAfter(
    chats: Map<string, string>,
    upTo: string,
    membership: { partition: number; after: string } | null = null,
  ): Promise<{ records: RelayedRecord[]; more: boolean; last: string | null }> {
    const ids = [...chats.keys()].filter(isUuid);
    if (ids.length === 0 && membership === null) return { records: [], more: false, last: null };
    let lowest = membership?.after ?? upTo;
    for (const id of ids) if (compareCursors(chats.get(id)!, lowest) < 0) lowest = chats.get(id)!;
    const from = decodeCursor(lowest)!;
    const to = decodeCursor(upTo)!;
    const which = membership ? '(o.chat_id = any(?::uuid[]) or (o.partition = ? and o.membership))' : 'o.chat_id = any(?::uuid[])';
    const { rows, more } = await readOutboxPage(
      this.orm.em.fork(),
      {
        where: `${which} and (o.tx_id, o.id) > (?::xid8, ?::bigint) and (o.tx_id, o.id) <= (?::xid8, ?::bigint)`,
        params: [
          `{${ids.join(',')}}`,
          ...(membership ? [membership.partition] : []),
          from.txId.toString(), from.position.toString(), to.txId.toString(), to.position.toString(),
        ],
        orderBy: 'tx_id, id',
      },
      OUTBOX_PAGE,
    );
    const last = rows.length > 0 ? encodeCursor(rows[rows.length - 1]!.tx_id, rows[rows.length - 1]!.id) : null;
    const after = (record: RelayedRecord) => chats.get(record.chatId) ?? (record.membership ? membership?.after : undefined);
    const records = rows.map((row) => toRelayedRecord(row)).filter((record) => {
      const since = after(record);
      return since !== undefined && compareCursors(record.position, since) > 0;
    });
    return { records, more, last };
  }

  /** The newest row of the outbox ('0.0' when empty). */
  async head(): Promise<string> {
    const [row] = await this.orm.em.fork().execute<{ head: string | null }[]>(
      `select (select o.tx_id::text || '.' || o.id::text from outbox o order by o.tx_id desc, o.id desc limit 1) as head`,
    );
    return row?.head ?? NO_ROW;
  }

  /** Each chat's newest row now, for "caught up" (tests and drains). */
  async heads(chatIds: string[]): Promise<Map<string, string>> {
    const found = await this.startingPoints(chatIds, []);
    return new Map([...found].map(([chatId, { lastRow }]) => [chatId, lastRow]));
  }
}

/** Everyone that membership rows' messages name: recipients, users added, users removed. */
function namedUsers(payloads: unknown[][]): string[] {
  const named = new Set<string>();
  for (const message of payloads.flatMap((payload) => unpackChannelMessages(payload))) {
    for (const userId of message.meta.userIds ?? []) named.add(userId);
    for (const userId of message.meta.removedUserIds ?? []) named.add(userId);
  }
  return [...named];
}
