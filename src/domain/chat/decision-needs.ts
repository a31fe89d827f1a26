import type { ChatCommand } from './chat-commands';
import { clientMessageIdProblem } from './identifiers';

/**
 * What `decide` looks at for a command, so that a store can load exactly that and no more
 * (DESIGN.md §2 "Cost": a post to a chat of 1000 must not read the other 999 members).
 *
 * `members: 'all'` needs every participant and read mark of the chat; a list needs only whether
 * those users are participants and their read marks. A `DecisionState` built for these needs may
 * hold only the listed members in `chat.participantIds` and `chat.readMarks`: every rule of
 * `decide` asks about the commanding user alone, except UpdateChat, which asks for all.
 */
export interface DecisionNeeds {
  members: 'all' | readonly string[];
  /** Edit, delete, mark read: the message the command names. */
  messageId: string | null;
  /** A post with a clientMessageId: the same sender's earlier post with it in this chat. */
  previousPost: { senderId: string; clientMessageId: string } | null;
}

export function decisionNeeds(command: ChatCommand): DecisionNeeds {
  switch (command.type) {
    case 'CreateChat':
      return { members: [], messageId: null, previousPost: null };
    case 'UpdateChat':
      return { members: 'all', messageId: null, previousPost: null };
    case 'PostMessage': {
      const { userId, clientMessageId } = command;
      return {
        members: [userId],
        messageId: null,
        // An id that decide will refuse anyway is never looked up.
        previousPost: loadableClientMessageId(clientMessageId) ? { senderId: userId, clientMessageId: clientMessageId! } : null,
      };
    }
    case 'EditMessage':
    case 'DeleteMessage':
    case 'MarkMessageRead':
      return { members: [command.userId], messageId: command.messageId, previousPost: null };
  }
}

function loadableClientMessageId(id: string | null | undefined): boolean {
  return id != null && clientMessageIdProblem(id) === null;
}
