import { HASH_SLOTS, crc16 } from './hash-slot';

/**
 * The sharded channels of DESIGN.md §3, by partition. Every name carries its partition's hash tag, so a
 * partition's channels (and its fencing key) share one Redis Cluster slot: one node, one connection,
 * and Redis delivers them to a subscriber in the order they were published.
 *
 * - `<prefix>{pNN.k}:chat:<chatId>`: every outbox row of the chat, one message per row;
 * - `<prefix>{pNN.k}:members`: rows that create a chat or change its participants, once more;
 * - `<prefix>{pNN.k}:tick`: the partition's progress, at least once a second (see `FeedTick`).
 */
export type FeedChannel =
  | { kind: 'chat'; partition: number; chatId: string }
  | { kind: 'members'; partition: number }
  | { kind: 'tick'; partition: number };

/*
 * Where the tags put the partitions on a Redis Cluster. `{p07}`-style tags hash wherever CRC16 sends
 * them (16 partitions fell 4/5/7 on 3 masters), so instead each partition is given a window of slots and
 * its tag is `{p<NN>.<k>}` with k the smallest number that hashes into that window.
 *
 * The slots are split into 48 cells the way `redis-cli --cluster create` splits them among 48 masters
 * (cell c ends at round((c + 1) * 16384 / 48) - 1). The standard layout of m masters for every m dividing
 * 48 (2, 3, 4, 6, 8, 12, 16, 24) is then a run of 48 / m whole cells per master: 3 masters own cells 0-15,
 * 16-31, 32-47; 6 masters 0-7, 8-15, and so on. CELL_ORDER is the order partitions 0-47 take the cells
 * in: each takes the lowest free cell that keeps every aligned block of m consecutive partitions on m
 * different masters, for each of those layouts. So any number of partitions N spreads over any of them
 * with ⌊N/m⌋ or ⌈N/m⌉ per master, and 16 partitions take one cell in every sixteenth of the slots.
 *
 * Partition p >= 48 goes back to cell CELL_ORDER[p % 48], in a different eighth of it for each pass
 * (eighths 0, 4, 2, 6, 1, 5, 3, 7), so that layouts which do not divide 48 (5, 7, 9, 10 masters) stay
 * within a few partitions of even as the count grows. A window is thus one of 384 eighths, 42 or 43
 * slots wide: about 384 hashes find a tag (never more than 2000 for partitions below 10000), done once
 * per partition and cached.
 *
 * The tags are part of the wire contract (channel names): neither the tables nor the search may change.
 */
const CELLS = 48;
const CELL_ORDER = [
  0, 24, 36, 12, 18, 42, 6, 30, 33, 9, 21, 45, 3, 27, 39, 15,
  16, 40, 4, 28, 34, 10, 22, 46, 1, 25, 37, 13, 19, 43, 7, 31,
  32, 8, 20, 44, 2, 26, 38, 14, 17, 41, 5, 29, 35, 11, 23, 47,
];
const EIGHTHS = [0, 4, 2, 6, 1, 5, 3, 7];
const WINDOWS = CELLS * EIGHTHS.length;

const tags = new Map<number, { tag: string; slot: number }>();

function chosen(partition: number): { tag: string; slot: number } {
  const known = tags.get(partition);
  if (known) return known;
  if (!Number.isSafeInteger(partition) || partition < 0) throw new RangeError(`partition ${partition} is not a non-negative integer`);
  const window = EIGHTHS.length * CELL_ORDER[partition % CELLS]! + EIGHTHS[Math.floor(partition / CELLS) % EIGHTHS.length]!;
  // The window's bounds fall on thirds of a slot, never halves, so rounding them is unambiguous.
  const first = Math.round((window * HASH_SLOTS) / WINDOWS);
  const last = Math.round(((window + 1) * HASH_SLOTS) / WINDOWS) - 1;
  const stem = `p${String(partition).padStart(2, '0')}.`;
  const stemCrc = crc16(stem);
  for (let k = 0; ; k++) {
    // The CRC of the tag's text `pNN.k`, the stem's hashed once.
    const slot = crc16(String(k), stemCrc) % HASH_SLOTS;
    if (slot >= first && slot <= last) {
      const found = { tag: `{${stem}${k}}`, slot };
      tags.set(partition, found);
      return found;
    }
  }
}

/** The hash tag of a partition: `{p07.502}` (see above for how k is chosen). */
export function partitionTag(partition: number): string {
  return chosen(partition).tag;
}

/** The Redis Cluster slot of a partition's channels and fencing key. */
export function partitionSlot(partition: number): number {
  return chosen(partition).slot;
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

const NAME = /^(\{p(\d{2,4})\.\d{1,6}\}):(?:chat:(.+)|(members|tick))$/;

/**
 * The channel a name (without prefix) stands for, or null for a name that is not one of ours: a tag
 * other than its partition's own (`{p07}` of earlier releases, another k, `{p007.k}`) is not ours.
 */
export function parseFeedChannelName(name: string): FeedChannel | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const partition = Number(match[2]);
  if (match[1] !== partitionTag(partition)) return null;
  if (match[3] !== undefined) return { kind: 'chat', partition, chatId: match[3] };
  return { kind: match[4] as 'members' | 'tick', partition };
}

/** The channels of one partition's rows: the chat's own, and the membership channel for rows that change who is in it. */
export function rowChannels(row: { partition: number; chatId: string; membership: boolean }): FeedChannel[] {
  const chat: FeedChannel = { kind: 'chat', partition: row.partition, chatId: row.chatId };
  return row.membership ? [chat, { kind: 'members', partition: row.partition }] : [chat];
}
