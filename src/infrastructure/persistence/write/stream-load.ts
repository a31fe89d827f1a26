import type { ClientBase } from 'pg';
import { initialChatState, type ChatState, type DecisionNeeds, type MessageState, type ReadMark } from '../../../domain';
import { isUuid } from '../uuid';
import { run, type PreparedStatement } from './pooled-client';

/**
 * The first steps of a write transaction: lock the chats, then load what their commands' decisions
 * need (`decisionNeeds`) and no more.
 *
 * The state comes from the tables the write transactions keep beside the stream (`chats`,
 * `chat_participants`, `messages`), written in the same transactions under the same chat locks, so
 * they are exactly as current as the stream; `parley projections rebuild` derives them from the
 * events again. A post reads its chat's row, the poster's membership and the earlier post with its
 * clientMessageId: three index lookups, whatever the size of the chat.
 */
export interface LoadedStream {
  chatId: string;
  /** The stream version the chat's next event follows. */
  version: number;
  /** `participantIds` and `readMarks` hold the members the needs named (all of them with `members: 'all'`). */
  state: ChatState;
  messages: Map<string, MessageState>;
  previousPosts: Map<string, MessageState>;
}

export function previousPostKey(senderId: string, clientMessageId: string): string {
  return `${senderId}\u0000${clientMessageId}`;
}

/** Key of the lock `projections rebuild` takes alone and every write batch takes shared. */
export const REBUILD_BARRIER = 'parley:read-model-rebuild';

/**
 * Opens the transaction and takes the chats' locks, in one round trip, before anything in it takes a
 * transaction id: within a chat, transaction-id order is then lock order is `seq` order, which the
 * relay's ordering depends on (docs/architecture.md "The write path"). Locks are taken in ascending
 * key order, so batches of different senders that share chats wait for each other instead of
 * deadlocking. The ids are canonical UUIDs (checked), the only values written into this text.
 */
export async function beginAndLock(client: ClientBase, chatIds: readonly string[]): Promise<void> {
  const ids = chatIds.filter(isUuid);
  for (const id of ids) if (id !== id.toLowerCase()) throw new Error(`chat id ${id} is not canonical`);
  const barrier = `select pg_advisory_xact_lock_shared(hashtextextended('${REBUILD_BARRIER}', 0))`;
  const locks = ids.length === 0
    ? ''
    : `; select pg_advisory_xact_lock(k) from (
         select distinct hashtextextended(id, 0) as k from unnest(array[${ids.map((id) => `'${id}'`).join(',')}]::text[]) as id
         order by k offset 0) as sorted`;
  await client.query(`begin; ${barrier}${locks}`);
}

/** What the commands of one chat need, merged. */
export interface ChatNeeds {
  allMembers: boolean;
  members: Set<string>;
  messageIds: Set<string>;
  previousPosts: Map<string, { senderId: string; clientMessageId: string }>;
}

export function mergeNeeds(into: ChatNeeds | undefined, needs: DecisionNeeds): ChatNeeds {
  const merged = into ?? { allMembers: false, members: new Set(), messageIds: new Set(), previousPosts: new Map() };
  if (needs.members === 'all') merged.allMembers = true;
  else for (const userId of needs.members) merged.members.add(userId);
  if (needs.messageId && isUuid(needs.messageId)) merged.messageIds.add(needs.messageId.toLowerCase());
  if (needs.previousPost) {
    merged.previousPosts.set(previousPostKey(needs.previousPost.senderId, needs.previousPost.clientMessageId), needs.previousPost);
  }
  return merged;
}

const MESSAGE_JSON = `json_build_object('id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'seq', m.seq,
  'content', m.content, 'clientMessageId', m.client_message_id, 'createdAt', m.created_at, 'deleted', m.deleted_at is not null)`;

/** One round trip for the whole batch; every part is an index lookup. */
const LOAD: PreparedStatement = {
  name: 'parley_write_load',
  text: `select
    (select coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'createdBy', c.created_by,
              'createdAt', c.created_at, 'updatedAt', c.updated_at, 'lastSeq', c.last_seq, 'version', c.version)), '[]')
       from chats c where c.id = any($1::uuid[])) as chats,
    (select coalesce(json_agg(json_build_object('chatId', p.chat_id, 'userId', p.user_id, 'readSeq', p.read_seq,
              'readMessageId', p.read_message_id, 'readAt', p.read_at) order by p.chat_id, p.joined_at, p.user_id), '[]')
       from (select p.* from unnest($2::uuid[], $3::text[]) as w(chat_id, user_id)
               join chat_participants p on p.chat_id = w.chat_id and p.user_id = w.user_id
             union
             select p.* from chat_participants p where p.chat_id = any($4::uuid[])) as p) as members,
    (select coalesce(json_agg(${MESSAGE_JSON}), '[]')
       from (select m.* from messages m where m.id = any($5::uuid[])
             union
             select m.* from unnest($6::uuid[], $7::text[], $8::text[]) as w(chat_id, sender_id, client_message_id)
               join messages m on m.chat_id = w.chat_id and m.sender_id = w.sender_id and m.client_message_id = w.client_message_id) as m)
      as messages`,
};

interface ChatRow {
  id: string;
  name: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  lastSeq: number;
  version: number;
}

interface MemberRow {
  chatId: string;
  userId: string;
  readSeq: number;
  readMessageId: string | null;
  readAt: string | null;
}

interface MessageRow {
  id: string;
  chatId: string;
  senderId: string;
  seq: number;
  content: string;
  clientMessageId: string | null;
  createdAt: string;
  deleted: boolean;
}

/** `needs` is keyed by canonical chat id; chats that do not exist come back as `initialChatState`. */
export async function loadStreams(client: ClientBase, needs: Map<string, ChatNeeds>): Promise<Map<string, LoadedStream>> {
  const chatIds = [...needs.keys()].filter(isUuid);
  const memberChats: string[] = [];
  const memberUsers: string[] = [];
  const allMembers: string[] = [];
  const messageIds: string[] = [];
  const postChats: string[] = [];
  const postSenders: string[] = [];
  const postIds: string[] = [];
  for (const chatId of chatIds) {
    const chat = needs.get(chatId)!;
    if (chat.allMembers) allMembers.push(chatId);
    else for (const userId of chat.members) (memberChats.push(chatId), memberUsers.push(userId));
    messageIds.push(...chat.messageIds);
    for (const { senderId, clientMessageId } of chat.previousPosts.values()) {
      postChats.push(chatId);
      postSenders.push(senderId);
      postIds.push(clientMessageId);
    }
  }
  const loaded = new Map<string, LoadedStream>();
  for (const chatId of needs.keys()) {
    loaded.set(chatId, { chatId, version: 0, state: initialChatState(chatId), messages: new Map(), previousPosts: new Map() });
  }
  if (chatIds.length === 0) return loaded;
  const { rows } = await run<{ chats: ChatRow[]; members: MemberRow[]; messages: MessageRow[] }>(client, LOAD, [
    chatIds, memberChats, memberUsers, allMembers, messageIds, postChats, postSenders, postIds,
  ]);
  const [{ chats, members, messages }] = rows as [{ chats: ChatRow[]; members: MemberRow[]; messages: MessageRow[] }];
  for (const row of chats) {
    const stream = loaded.get(row.id)!;
    stream.version = row.version;
    stream.state = {
      exists: true,
      chatId: row.id,
      name: row.name,
      participantIds: [],
      createdBy: row.createdBy,
      createdAt: iso(row.createdAt),
      updatedAt: iso(row.updatedAt),
      lastSeq: row.lastSeq,
      readMarks: {},
    };
  }
  for (const row of members) {
    const state = loaded.get(row.chatId)!.state;
    state.participantIds.push(row.userId);
    if (row.readSeq > 0) state.readMarks[row.userId] = readMark(row);
  }
  for (const row of messages) {
    const stream = loaded.get(row.chatId);
    // A message of a chat this batch did not lock: for decide, it is not in the command's chat.
    if (!stream) continue;
    const message = toMessageState(row);
    if (messageIds.includes(row.id)) stream.messages.set(row.id, message);
    if (row.clientMessageId !== null) stream.previousPosts.set(previousPostKey(row.senderId, row.clientMessageId), message);
  }
  return loaded;
}

function readMark(row: MemberRow): ReadMark {
  return { seq: row.readSeq, messageId: row.readMessageId!, readAt: iso(row.readAt!) };
}

function toMessageState(row: MessageRow): MessageState {
  return {
    messageId: row.id,
    chatId: row.chatId,
    senderId: row.senderId,
    seq: row.seq,
    content: row.content,
    clientMessageId: row.clientMessageId,
    postedAt: iso(row.createdAt),
    deleted: row.deleted,
  };
}

function iso(time: string): string {
  return new Date(time).toISOString();
}
