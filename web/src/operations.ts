/** The GraphQL operations of the page: the public API of DESIGN.md §5, nothing else. */
const MESSAGE = 'id chatId senderId content seq createdAt isEdited editedAt cursor';
const CHAT = `id name participantIds createdBy createdAt updatedAt unreadCount cursor lastMessage { ${MESSAGE} }`;

export const ME = '{ me }';
export const CHATS = `{ chats { ${CHAT} } head }`;
export const MESSAGES = `query($chatId: ID!, $beforeSeq: Int, $limit: Int) {
  messages(chatId: $chatId, beforeSeq: $beforeSeq, limit: $limit) { messages { ${MESSAGE} } hasMore }
  head
}`;
export const CREATE_CHAT = `mutation($input: CreateChatInput!) { createChat(input: $input) { ${CHAT} } }`;
export const CREATE_MESSAGE = `mutation($input: CreateMessageInput!) { createMessage(createMessageInput: $input) { ${MESSAGE} } }`;
export const UPDATE_MESSAGE = `mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { ${MESSAGE} } }`;
export const DELETE_MESSAGE = 'mutation($id: ID!) { deleteMessage(messageId: $id) { id chatId cursor } }';
export const MARK_READ = 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { messageId userId cursor } }';

/** Receipts of several messages in one request (at most 15 aliases per query). */
export function messageReadsOf(messageIds: string[]): { query: string; variables: Record<string, string> } {
  const ids = messageIds.slice(0, 14);
  const declarations = ids.map((_, index) => `$m${index}: ID!`).join(', ');
  const fields = ids.map((_, index) => `r${index}: messageReads(messageId: $m${index}) { messageId userId }`).join(' ');
  return {
    query: `query(${declarations}) { ${fields} }`,
    variables: Object.fromEntries(ids.map((id, index) => [`m${index}`, id])),
  };
}

export const CHAT_ADDED = `subscription($after: String) { chatAdded(after: $after) { ${CHAT} } }`;
export const CHAT_UPDATED = `subscription($after: String) { chatUpdated(after: $after) { ${CHAT} } }`;
export const LIST_UPDATES = `subscription($after: String) {
  messageUpdateForChatList(after: $after) { chatId senderId message { ${MESSAGE} } cursor }
}`;
export const UNREAD_COUNTS = 'subscription($after: String) { unreadCountUpdated(after: $after) { chatId unreadCount cursor } }';
export const MESSAGE_ADDED = `subscription($chatId: ID!, $after: String) { messageAdded(chatId: $chatId, after: $after) { ${MESSAGE} } }`;
export const MESSAGE_UPDATED = `subscription($chatId: ID!, $after: String) { messageUpdated(chatId: $chatId, after: $after) { ${MESSAGE} } }`;
export const MESSAGE_DELETED = 'subscription($chatId: ID!, $after: String) { messageDeleted(chatId: $chatId, after: $after) { id chatId cursor } }';
export const MESSAGE_READS = `subscription($chatId: ID!, $after: String) {
  messageReadUpdated(chatId: $chatId, after: $after) { messageId chatId userId readAt cursor }
}`;

export interface Message {
  id: string;
  chatId: string;
  senderId: string;
  content: string;
  seq: number;
  createdAt: string;
  isEdited: boolean;
  editedAt: string | null;
  cursor: string;
}

export interface Chat {
  id: string;
  name: string;
  participantIds: string[];
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  unreadCount: number;
  cursor: string;
  lastMessage: Message | null;
}

export interface MessageDeleted {
  id: string;
  chatId: string;
  cursor: string;
}

export interface MessageRead {
  messageId: string;
  chatId: string;
  userId: string;
  readAt: string;
  cursor: string;
}

export interface UnreadCount {
  chatId: string;
  unreadCount: number;
  cursor: string;
}

export interface ChatListUpdate {
  chatId: string;
  senderId: string;
  message: Message;
  cursor: string;
}
