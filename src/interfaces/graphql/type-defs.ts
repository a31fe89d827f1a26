/**
 * The GraphQL contract of DESIGN.md §5. Names and types here may be added to, never changed.
 * Every subscription payload carries `cursor`; `after: <cursor>` resumes without gaps. Typing and presence
 * (DESIGN.md §10) are ephemeral: no cursor, no resume.
 */
export const typeDefs = /* GraphQL */ `
  scalar DateTime

  type Chat {
    id: ID!
    name: String!
    participantIds: [ID!]!
    createdBy: ID!
    createdAt: DateTime!
    updatedAt: DateTime!
    lastMessage: Message
    unreadCount: Int!
    cursor: String!
  }

  type Message {
    id: ID!
    chatId: ID!
    senderId: ID!
    content: String!
    seq: Int!
    createdAt: DateTime!
    isEdited: Boolean!
    editedAt: DateTime
    cursor: String!
  }

  type MessageRead {
    "One per (message, reader): lets a normalized client cache (Apollo's) merge a receipt by itself."
    id: ID!
    messageId: ID!
    chatId: ID!
    userId: ID!
    readAt: DateTime!
    cursor: String!
  }

  type UnreadCount {
    "One per (chat, user): lets a normalized client cache (Apollo's) merge each new count into the old one."
    id: ID!
    chatId: ID!
    userId: ID!
    unreadCount: Int!
    cursor: String!
  }

  type ChatMessageNotification {
    chatId: ID!
    message: Message!
    senderId: ID!
    cursor: String!
  }

  type MessageUpdateForChatList {
    chatId: ID!
    message: Message!
    senderId: ID!
    cursor: String!
  }

  type MessageDeleted {
    id: ID!
    chatId: ID!
    cursor: String!
  }

  "Ephemeral (DESIGN.md §10): at most once, no cursor, no history."
  type TypingIndicator {
    chatId: ID!
    userId: ID!
    isTyping: Boolean!
  }

  type Presence {
    userId: ID!
    online: Boolean!
    "When the user's last socket closed; null if never seen offline."
    lastSeenAt: DateTime
  }

  type MessagePage {
    messages: [Message!]!
    hasMore: Boolean!
  }

  input CreateChatInput {
    name: String!
    participantIds: [ID!]!
  }

  input UpdateChatInput {
    chatId: ID!
    name: String
    addParticipantIds: [ID!]
    removeParticipantIds: [ID!]
  }

  input CreateMessageInput {
    chatId: ID!
    content: String!
    clientMessageId: String
  }

  type Query {
    me: ID!
    head: String!
    chats: [Chat!]!
    chat(id: ID!): Chat
    messages(chatId: ID!, beforeSeq: Int, afterSeq: Int, limit: Int = 50): MessagePage!
    unreadCounts: [UnreadCount!]!
    messageReads(messageId: ID!): [MessageRead!]!
    "Users who share no chat with the viewer are left out."
    presence(userIds: [ID!]!): [Presence!]!
  }

  type Mutation {
    createChat(input: CreateChatInput!): Chat!
    updateChat(input: UpdateChatInput!): Chat!
    createMessage(createMessageInput: CreateMessageInput!): Message!
    updateMessage(messageId: ID!, content: String!): Message!
    deleteMessage(messageId: ID!): MessageDeleted!
    markMessageAsRead(messageId: ID!): MessageRead!
    "Published to the chat's other participants, never stored; an isTyping: true lapses after 6 s unless renewed."
    setTyping(chatId: ID!, isTyping: Boolean = true): Boolean!
  }

  type Subscription {
    messageAdded(chatId: ID!, after: String): Message!
    messageUpdated(chatId: ID!, after: String): Message!
    messageDeleted(chatId: ID!, after: String): MessageDeleted!
    messageReadUpdated(chatId: ID!, messageId: ID, after: String): MessageRead!
    "To the chat's participants, not the sender."
    chatMessageNotification(after: String): ChatMessageNotification!
    "To the chat's participants, not the sender."
    messageUpdateForChatList(after: String): MessageUpdateForChatList!
    "The viewer's own counts."
    unreadCountUpdated(after: String): UnreadCount!
    "Chats the viewer is in."
    chatAdded(after: String): Chat!
    chatUpdated(after: String): Chat!
    "Other participants typing in this chat. At most once: no cursor, no resume."
    typingIndicator(chatId: ID!): TypingIndicator!
    "Online/offline transitions of users who share a chat with the viewer. At most once: no cursor, no resume."
    presenceChanged: Presence!
  }
`;
