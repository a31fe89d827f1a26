import { CreateChatHandler } from './create-chat/create-chat.handler';
import { PostMessageHandler } from './post-message/post-message.handler';
import { DeleteMessageHandler } from './delete-message/delete-message.handler';
import { EditMessageHandler } from './edit-message/edit-message.handler';
import { GetChatHandler } from './get-chat/get-chat.handler';
import { GetHeadHandler } from './get-head/get-head.handler';
import { GetMessageReadHandler } from './get-message-read/get-message-read.handler';
import { GetMessageHandler } from './get-message/get-message.handler';
import { ListChatsHandler } from './list-chats/list-chats.handler';
import { ListMessageReadsHandler } from './list-message-reads/list-message-reads.handler';
import { ListUnreadCountsHandler } from './list-unread-counts/list-unread-counts.handler';
import { ListMessagesHandler } from './list-messages/list-messages.handler';
import { MarkMessageReadHandler } from './mark-message-read/mark-message-read.handler';
import { UpdateChatHandler } from './update-chat/update-chat.handler';
import { MessageCommands } from './shared/message-command';
import { SetTypingHandler } from './set-typing/set-typing.handler';
import { GetPresenceHandler } from './get-presence/get-presence.handler';

/** Every command and query handler (and what they share), for the composition root to register. */
export const APPLICATION_HANDLERS = [
  MessageCommands,
  CreateChatHandler,
  UpdateChatHandler,
  PostMessageHandler,
  EditMessageHandler,
  DeleteMessageHandler,
  MarkMessageReadHandler,
  GetHeadHandler,
  ListChatsHandler,
  GetChatHandler,
  ListMessagesHandler,
  GetMessageHandler,
  ListMessageReadsHandler,
  GetMessageReadHandler,
  ListUnreadCountsHandler,
  SetTypingHandler,
  GetPresenceHandler,
];
