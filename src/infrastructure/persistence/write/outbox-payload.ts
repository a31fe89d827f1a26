import { channelMessagesFor, packChannelMessages, type ChannelContext } from '../../../application';
import { isMembershipEvent, type ChatEvent } from '../../../domain';

/**
 * What an event's outbox row stores: its channel messages (application/realtime/channel-messages.ts),
 * packed so that shared values are stored once (outbox-packing.ts), and whether the row changes who is
 * in the chat (it then also goes on its partition's membership channel, DESIGN.md §3).
 *
 * A post names no recipients: receivers know the participants of the chats they follow, so the row's
 * bytes and the database work of a post do not grow with its chat (DESIGN.md §2 "Cost").
 */
export interface OutboxPayload {
  json: string;
  membership: boolean;
}

export function outboxPayload(event: ChatEvent, context: ChannelContext): OutboxPayload {
  return { json: JSON.stringify(packChannelMessages(channelMessagesFor(event, context))), membership: isMembershipEvent(event) };
}

/**
 * The SQL for a row's partition: its chat's, as recorded when the chat was created. A chat created in
 * the same statement is not visible to it yet; it gets the partition the chats row is given
 * (`parley_partition_of`, the same function in the same snapshot). `chat` is an SQL expression.
 */
export function partitionOf(chat: string): string {
  return `coalesce((select c.partition from chats c where c.id = ${chat}), parley_partition_of(${chat}))`;
}
