import { channelMessagesFor, packChannelMessages, type ChannelContext } from '../../../application';
import type { ChatEvent } from '../../../domain';

/**
 * What an event's outbox row stores: its channel messages (application/realtime/channel-messages.ts),
 * packed so that shared values are stored once (outbox-packing.ts).
 *
 * A post names its recipients, the chat's participants other than the sender, in `meta.userIds`.
 * Loading up to 999 ids into this process only to write them back would make a post's work grow
 * with its chat (DESIGN.md §2 "Cost"), so the row is written with an empty list at `recipients.path`
 * and the append statement fills it from `chat_participants` in the same transaction. Statements of
 * one transaction see the ones before, so the list is the participants as they are at that event.
 */
export interface OutboxPayload {
  json: string;
  /** Where the recipient list goes (a jsonb_set path), and whom it leaves out; null when complete. */
  recipients: { path: string; except: string } | null;
}

export function outboxPayload(event: ChatEvent, context: Omit<ChannelContext, 'recipients'>): OutboxPayload {
  if (event.type !== 'MessagePosted') {
    return { json: JSON.stringify(packChannelMessages(channelMessagesFor(event, context))), recipients: null };
  }
  // Found again by identity after packing: the first message that carries it keeps this very array.
  const hole: string[] = [];
  const packed = packChannelMessages(channelMessagesFor(event, { ...context, recipients: hole }));
  const index = packed.findIndex((message) => (message as { meta: { userIds?: unknown } }).meta.userIds === hole);
  return {
    json: JSON.stringify(packed),
    recipients: index < 0 ? null : { path: `{${index},meta,userIds}`, except: event.data.senderId },
  };
}

/** The SQL that fills the hole: `payload`, `path`, `chat` and `except` are SQL expressions. */
export function withRecipients(payload: string, path: string, chat: string, except: string): string {
  return `jsonb_set(${payload}, ${path}, coalesce(
    (select jsonb_agg(p.user_id) from chat_participants p where p.chat_id = ${chat} and p.user_id <> ${except}), '[]'::jsonb))`;
}
