import { initialChatState, type ChatState, type DecisionNeeds, type MessageState, type ReadMark } from '../../../domain';
import { isUuid } from '../uuid';
import { execute, type PreparedStatement } from './pooled-client';

/**
 * The first step of a write transaction after it took the append lock: load what its commands'
 * decisions need (`decisionNeeds`) and no more.
 *
 * The state comes from the tables the write transactions keep beside the stream (`chats`,
 * `chat_participants`, `messages`), written in the same transactions under the same lock, so
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

/**
 * What the whole batch needs, in one statement; every part is an index lookup.
 *
 * Its parts are joined by `union all`, never `union`: `union` removes duplicates with a hash table
 * that the planner sizes for the rows it guesses (100 JSON elements times the rows it expects per
 * chat), not for the few there are, and builds it on every execution. That guess grows with
 * `chat_participants`, so big chats anywhere in the database would make every batch's load slower
 * (about 0.1 ms, up to `work_mem`), whatever chats the batch writes to. Nothing needs removing: a
 * chat's members are loaded by name or all of them (`loadStatement`), never both; a message asked for
 * by id and found again as an earlier post comes back twice, and `loaded` keeps it by id and by key.
 */
export const LOAD: PreparedStatement = {
  name: 'parley_write_load',
  parameterTypes: ['json'],
  text: `select
    (select coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'createdBy', c.created_by,
              'createdAt', c.created_at, 'updatedAt', c.updated_at, 'lastSeq', c.last_seq, 'version', c.version)), '[]')
       from chats c where c.id in (select value::uuid from json_array_elements_text($1 -> 'chats'))) as chats,
    (select coalesce(json_agg(json_build_object('chatId', p.chat_id, 'userId', p.user_id, 'readSeq', p.read_seq,
              'readMessageId', p.read_message_id, 'readAt', p.read_at) order by p.chat_id, p.joined_at, p.user_id), '[]')
       from (select p.* from json_to_recordset($1 -> 'members') as w(chat_id uuid, user_id text)
               join chat_participants p on p.chat_id = w.chat_id and p.user_id = w.user_id
             union all
             select p.* from chat_participants p
             where p.chat_id in (select value::uuid from json_array_elements_text($1 -> 'allMembers'))) as p) as members,
    (select coalesce(json_agg(${MESSAGE_JSON}), '[]')
       from (select m.* from messages m where m.id in (select value::uuid from json_array_elements_text($1 -> 'messages'))
             union all
             select m.* from json_to_recordset($1 -> 'posts') as w(chat_id uuid, sender_id text, client_message_id text)
               join messages m on m.chat_id = w.chat_id and m.sender_id = w.sender_id and m.client_message_id = w.client_message_id) as m)
      as messages`,
};

export interface ChatRow {
  id: string;
  name: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  lastSeq: number;
  version: number;
}

export interface MemberRow {
  chatId: string;
  userId: string;
  readSeq: number;
  readMessageId: string | null;
  readAt: string | null;
}

export interface MessageRow {
  id: string;
  chatId: string;
  senderId: string;
  seq: number;
  content: string;
  clientMessageId: string | null;
  createdAt: string;
  deleted: boolean;
}

export type LoadRow = { chats: ChatRow[]; members: MemberRow[]; messages: MessageRow[] };

/**
 * The statement that loads what `needs` asks for (keyed by canonical chat id), and how to read its
 * row: chats that do not exist come back as `initialChatState`.
 */
export function loadStatement(needs: Map<string, ChatNeeds>): { sql: string | null; read(row: LoadRow | null): Map<string, LoadedStream> } {
  const chatIds = [...needs.keys()].filter(isUuid);
  const input = { chats: chatIds, members: [] as object[], allMembers: [] as string[], messages: [] as string[], posts: [] as object[] };
  for (const chatId of chatIds) {
    const chat = needs.get(chatId)!;
    if (chat.allMembers) input.allMembers.push(chatId);
    else for (const userId of chat.members) input.members.push({ chat_id: chatId, user_id: userId });
    input.messages.push(...chat.messageIds);
    for (const { senderId, clientMessageId } of chat.previousPosts.values()) {
      input.posts.push({ chat_id: chatId, sender_id: senderId, client_message_id: clientMessageId });
    }
  }
  return {
    sql: chatIds.length === 0 ? null : execute(LOAD, [JSON.stringify(input)]),
    read: (row) => loaded(needs, input.messages, row),
  };
}

function loaded(needs: Map<string, ChatNeeds>, messageIds: string[], row: LoadRow | null): Map<string, LoadedStream> {
  const streams = new Map<string, LoadedStream>();
  for (const chatId of needs.keys()) {
    streams.set(chatId, { chatId, version: 0, state: initialChatState(chatId), messages: new Map(), previousPosts: new Map() });
  }
  if (!row) return streams;
  for (const chat of row.chats) {
    const stream = streams.get(chat.id)!;
    stream.version = chat.version;
    stream.state = {
      exists: true,
      chatId: chat.id,
      name: chat.name,
      participantIds: [],
      createdBy: chat.createdBy,
      createdAt: iso(chat.createdAt),
      updatedAt: iso(chat.updatedAt),
      lastSeq: chat.lastSeq,
      readMarks: {},
    };
  }
  for (const member of row.members) {
    const state = streams.get(member.chatId)!.state;
    state.participantIds.push(member.userId);
    if (member.readSeq > 0) state.readMarks[member.userId] = readMark(member);
  }
  const asked = new Set(messageIds);
  for (const message of row.messages) {
    const stream = streams.get(message.chatId);
    // A message of a chat this batch did not lock: for decide, it is not in the command's chat.
    if (!stream) continue;
    const state = toMessageState(message);
    if (asked.has(message.id)) stream.messages.set(message.id, state);
    if (message.clientMessageId !== null) stream.previousPosts.set(previousPostKey(message.senderId, message.clientMessageId), state);
  }
  return streams;
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
