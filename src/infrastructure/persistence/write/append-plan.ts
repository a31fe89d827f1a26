import type { ChatCommand } from '../../../domain';
import { canonicalId } from '../uuid';
import type { BatchEntry, Decision } from './batch-decisions';
import { BatchedReadModels } from './inline-projections';
import type { PendingEvent } from './stream-append';

/** An event appended on its own, or the point where a command's answer (its chat) is read. */
export type AloneStep = { event: PendingEvent } | { view: { index: number; chatId: string; viewerId: string } };

/** Commands answered with the chat as they left it, read in the write transaction. */
export function answersWithChat(command: ChatCommand): boolean {
  return command.type === 'CreateChat' || command.type === 'UpdateChat';
}

/**
 * How a decided batch is appended. Chats whose events all fold (posts, reads, edits of distinct
 * messages) share one statement (`batched`); every other chat's events go one statement each
 * (`alone`), in stream order, so that each sees what the one before it wrote. A chat with a command
 * answered with its chat goes alone too, with that answer read right after the command's own events
 * (even when it recorded none): a later command of the batch, a post after a removal say, must not
 * show in it.
 */
export function planAppend(batch: BatchEntry[], decisions: Decision[]): { batched: PendingEvent[]; alone: AloneStep[] } {
  const byChat = new Map<string, { index: number; decision: Extract<Decision, { ok: true }> }[]>();
  decisions.forEach((decision, index) => {
    if (!decision.ok) return;
    const chatId = canonicalId(batch[index]!.command.chatId);
    byChat.set(chatId, [...(byChat.get(chatId) ?? []), { index, decision }]);
  });
  const batched: PendingEvent[] = [];
  const alone: AloneStep[] = [];
  for (const [chatId, commands] of byChat) {
    const events = commands.flatMap(({ decision }) => decision.events);
    const answered = commands.some(({ index }) => answersWithChat(batch[index]!.command));
    if (!answered && BatchedReadModels.folds(events.map((pending) => pending.event))) {
      batched.push(...events);
      continue;
    }
    for (const { index, decision } of commands) {
      alone.push(...decision.events.map((event) => ({ event })));
      const { command } = batch[index]!;
      if (answersWithChat(command)) alone.push({ view: { index, chatId, viewerId: command.userId } });
    }
  }
  return { batched, alone };
}
