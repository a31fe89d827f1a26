import { randomUUID } from 'node:crypto';
import { ChatUnitOfWork, UpdateChatCommand, type ChatCommandOutcome, type ChatView } from '../../src/application';
import { CreateChatHandler } from '../../src/application/create-chat/create-chat.handler';
import { UpdateChatHandler } from '../../src/application/update-chat/update-chat.handler';
import { CreateChatCommand } from '../../src/application/create-chat/create-chat.command';
import { decide, type ChatCommand, type ChatEvent, type DecisionState } from '../../src/domain';
import { PostgresChatUnitOfWork } from '../../src/infrastructure/persistence/postgres-chat-unit-of-work.adapter';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer } from '../support/test-server';

const clock = { now: () => new Date() };

/**
 * A unit of work that lets other commands commit right after each command it runs, before the
 * handler sees the outcome: the interleaving in which a read after the commit would show a change
 * that came later.
 */
class Interleaving extends ChatUnitOfWork {
  after: ChatCommand[] = [];

  constructor(private readonly inner: PostgresChatUnitOfWork) {
    super();
  }

  async execute(command: ChatCommand, decideIt: (state: DecisionState) => ChatEvent[]): Promise<ChatCommandOutcome> {
    const outcome = await this.inner.execute(command, decideIt);
    for (const next of this.after.splice(0)) await this.inner.execute(next, (state) => decide(next, state));
    return outcome;
  }
}

describe('the answer to updateChat and createChat comes from their own transaction', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let writes: Interleaving;
  let chatId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    writes = new Interleaving(new PostgresChatUnitOfWork(server.database));
  });

  afterAll(async () => {
    await server.stop();
    await database.drop();
  });

  const at = () => new Date().toISOString();

  it('given a caller removed and a message posted right after their rename commits, answers the chat as the rename left it', async () => {
    const created = await new CreateChatHandler(writes, clock, { newId: () => randomUUID() }).execute(
      new CreateChatCommand({ userId: 'alice', name: 'before', participantIds: ['bob'] }),
    );
    chatId = created.id;

    // When bob renames the chat, and before his answer is made, alice (its creator) removes him and posts
    writes.after = [
      { type: 'UpdateChat', chatId, userId: 'alice', name: null, addParticipantIds: null, removeParticipantIds: ['bob'], at: at() },
      { type: 'PostMessage', chatId, userId: 'alice', messageId: randomUUID(), content: 'bob must not see this', clientMessageId: null, at: at() },
    ];
    const answer: ChatView = await new UpdateChatHandler(writes, clock).execute(new UpdateChatCommand({ userId: 'bob', chatId, name: 'after' }));

    // Then his answer is the chat as his rename left it: with him in it, without alice's later message
    expect(answer).toMatchObject({ id: chatId, name: 'after', participantIds: ['alice', 'bob'], lastMessage: null });
  });

  it('given a rename and a message right after the chat is created, answers the chat as created', async () => {
    writes.after = [];
    const handler = new CreateChatHandler(writes, clock, {
      newId: () => {
        const id = randomUUID();
        writes.after = [
          { type: 'UpdateChat', chatId: id, userId: 'bob', name: 'renamed by bob', addParticipantIds: null, removeParticipantIds: null, at: at() },
          { type: 'PostMessage', chatId: id, userId: 'bob', messageId: randomUUID(), content: 'after the answer', clientMessageId: null, at: at() },
        ];
        return id;
      },
    });

    const answer = await handler.execute(new CreateChatCommand({ userId: 'alice', name: 'fresh', participantIds: ['bob'] }));

    expect(answer).toMatchObject({ name: 'fresh', participantIds: ['alice', 'bob'], lastMessage: null, unreadCount: 0 });
  });
});
