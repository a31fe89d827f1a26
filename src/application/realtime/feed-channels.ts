/**
 * The sharded channels of DESIGN.md §3, by partition. Every name carries its partition's hash tag, so a
 * partition's channels (and its fencing key) share one Redis Cluster slot: one node, one connection,
 * and Redis delivers them to a subscriber in the order they were published.
 *
 * - `<prefix>{pNN}:chat:<chatId>`: every outbox row of the chat, one message per row;
 * - `<prefix>{pNN}:members`: rows that create a chat or change its participants, once more;
 * - `<prefix>{pNN}:tick`: the partition's progress, at least once a second (see `FeedTick`).
 */
export type FeedChannel =
  | { kind: 'chat'; partition: number; chatId: string }
  | { kind: 'members'; partition: number }
  | { kind: 'tick'; partition: number };

/** The hash tag of a partition: `{p07}`. */
export function partitionTag(partition: number): string {
  return `{p${String(partition).padStart(2, '0')}}`;
}

/** A channel's name without the deployment's prefix. */
export function feedChannelName(channel: FeedChannel): string {
  const tag = partitionTag(channel.partition);
  return channel.kind === 'chat' ? `${tag}:chat:${channel.chatId}` : `${tag}:${channel.kind}`;
}

/** The fencing key of a partition: the newest leadership epoch that has published on its channels. */
export function epochKey(partition: number): string {
  return `${partitionTag(partition)}:epoch`;
}

const NAME = /^\{p(\d{2,4})\}:(?:chat:(.+)|(members|tick))$/;

/** The channel a name (without prefix) stands for, or null for a name that is not one of ours. */
export function parseFeedChannelName(name: string): FeedChannel | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const partition = Number(match[1]);
  if (match[2] !== undefined) return { kind: 'chat', partition, chatId: match[2] };
  return { kind: match[3] as 'members' | 'tick', partition };
}

/** The channels of one partition's rows: the chat's own, and the membership channel for rows that change who is in it. */
export function rowChannels(row: { partition: number; chatId: string; membership: boolean }): FeedChannel[] {
  const chat: FeedChannel = { kind: 'chat', partition: row.partition, chatId: row.chatId };
  return row.membership ? [chat, { kind: 'members', partition: row.partition }] : [chat];
}
