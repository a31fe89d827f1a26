import {
  epochKey,
  feedChannelName,
  HASH_SLOTS,
  hashSlot,
  parseFeedChannelName,
  partitionSlot,
  partitionTag,
  type FeedChannel,
} from '../../../src/application';
import { crc16 } from '../../../src/application/realtime/hash-slot';

/**
 * Slots as Redis itself answers them: `CLUSTER KEYSLOT <key>` on a Redis 7.0.15 started with
 * `--cluster-enabled yes` (a standalone Redis refuses the command). Literal, so that the CRC16 here is
 * checked against Redis, not against itself.
 */
const REDIS_KEYSLOTS: [string, number][] = [
  ['123456789', 12739],
  ['foo', 12182],
  ['bar', 5061],
  ['somekey', 11058],
  ['{user1000}.following', 3443],
  // An empty tag does not count: the whole key is hashed.
  ['{}{user1000}', 11203],
  ['a{}', 6082],
  // No closing brace: the whole key.
  ['{user1000', 8723],
  // Non-ASCII keys hash their UTF-8 bytes.
  ['é', 10180],
  ['{héllo}x', 11061],
  ['', 0],
  // The tag of earlier releases.
  ['{p07}:chat:c-1', 6953],
];

/**
 * The tags of the default 16 partitions, with their slots as `CLUSTER KEYSLOT` answers them for
 * `<tag>:chat:abc` and `parley:<tag>:epoch`, and the master owning the slot in the standard 3- and
 * 6-master layouts (numbered from 1). Channel names are a contract with consumers outside Parley: a
 * change to how tags are chosen must fail here.
 */
const SIXTEEN: [tag: string, slot: number, of3: number, of6: number][] = [
  ['{p00.295}', 41, 1, 1],
  ['{p01.3}', 8227, 2, 4],
  ['{p02.1716}', 12296, 3, 5],
  ['{p03.420}', 4100, 1, 2],
  ['{p04.471}', 6148, 2, 3],
  ['{p05.1462}', 14346, 3, 6],
  ['{p06.125}', 2054, 1, 1],
  ['{p07.502}', 10258, 2, 4],
  ['{p08.751}', 11293, 3, 5],
  ['{p09.376}', 3081, 1, 2],
  ['{p10.214}', 7169, 2, 3],
  ['{p11.633}', 15381, 3, 6],
  ['{p12.79}', 1053, 1, 1],
  ['{p13.147}', 9237, 2, 4],
  ['{p14.56}', 13321, 3, 5],
  ['{p15.80}', 5159, 1, 2],
];

/** Tags past the first 16 (a second and a ninth pass over the cells, three- and four-digit partitions), slots from Redis too. */
const LATER: [partition: number, tag: string, slot: number][] = [
  [16, '{p16.229}', 5498],
  [47, '{p47.142}', 16055],
  [48, '{p48.374}', 187],
  [49, '{p49.753}', 8367],
  [100, '{p100.430}', 6246],
  [1023, '{p1023.132}', 5375],
];

type Layout = [first: number, last: number][];

/** What `redis-cli --cluster create` gives 3 and 6 masters. */
const THREE_MASTERS: Layout = [[0, 5460], [5461, 10922], [10923, 16383]];
const SIX_MASTERS: Layout = [[0, 2730], [2731, 5460], [5461, 8191], [8192, 10922], [10923, 13652], [13653, 16383]];

/** The slot ranges `redis-cli --cluster create` gives m masters: each ends at round(i * 16384 / m) - 1. */
function standardLayout(masters: number): Layout {
  const layout: Layout = [];
  for (let i = 0, first = 0; i < masters; i++) {
    const last = i === masters - 1 ? HASH_SLOTS - 1 : Math.round(((i + 1) * HASH_SLOTS) / masters) - 1;
    layout.push([first, last]);
    first = last + 1;
  }
  return layout;
}

function ownerOf(layout: Layout, slot: number): number {
  return layout.findIndex(([first, last]) => slot >= first && slot <= last);
}

/** How many of partitions 0 … count-1 each master of the layout holds. */
function perMaster(layout: Layout, count: number): number[] {
  const counts = layout.map(() => 0);
  for (let partition = 0; partition < count; partition++) counts[ownerOf(layout, partitionSlot(partition))]! += 1;
  return counts;
}

const spread = (counts: number[]) => Math.max(...counts) - Math.min(...counts);

describe('Redis Cluster hash slots', () => {
  it('given the cluster spec\'s check string, then CRC16 is 0x31C3', () => {
    expect(crc16('123456789')).toBe(0x31c3);
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x31c3);
  });

  it('given the CRC of a prefix, then it goes on to the CRC of the whole', () => {
    expect(crc16('789', crc16('123456'))).toBe(0x31c3);
    expect(crc16('llo}x', crc16('{hé'))).toBe(crc16('{héllo}x'));
  });

  it('given keys Redis was asked about, then the slot is the one CLUSTER KEYSLOT answered', () => {
    for (const [key, slot] of REDIS_KEYSLOTS) expect([key, hashSlot(key)]).toEqual([key, slot]);
  });
});

describe('partition hash tags', () => {
  it('given the default 16 partitions, then their tags and slots are the documented ones, and Redis agrees on every name', () => {
    const tags = SIXTEEN.map((_, partition) => [partitionTag(partition), partitionSlot(partition)]);
    expect(tags).toEqual(SIXTEEN.map(([tag, slot]) => [tag, slot]));
    for (const [partition, [tag, slot]] of SIXTEEN.entries()) {
      expect(hashSlot(feedChannelName({ kind: 'chat', partition, chatId: 'abc' }))).toBe(slot);
      expect(hashSlot(`parley:${epochKey(partition)}`)).toBe(slot);
      expect(epochKey(partition)).toBe(`${tag}:epoch`);
    }
  });

  it('given partitions past the first 16, then their tags are the documented ones too', () => {
    for (const [partition, tag, slot] of LATER) expect([partition, partitionTag(partition), partitionSlot(partition)]).toEqual([partition, tag, slot]);
  });

  it('given the standard 3- and 6-master layouts, then the documented owners are right and the layout formula reproduces them', () => {
    expect(standardLayout(3)).toEqual(THREE_MASTERS);
    expect(standardLayout(6)).toEqual(SIX_MASTERS);
    for (const [tag, slot, of3, of6] of SIXTEEN) expect([tag, ownerOf(THREE_MASTERS, slot) + 1, ownerOf(SIX_MASTERS, slot) + 1]).toEqual([tag, of3, of6]);
  });

  it('given 16 partitions, when spread over 3 and 6 standard masters, then the counts are at most one apart', () => {
    expect(perMaster(THREE_MASTERS, 16)).toEqual([6, 5, 5]);
    expect(perMaster(SIX_MASTERS, 16)).toEqual([3, 3, 2, 3, 3, 2]);
  });

  it('given 4 or 32 partitions, when spread over 3 and 6 standard masters, then the counts are at most one apart', () => {
    expect(perMaster(THREE_MASTERS, 4)).toEqual([2, 1, 1]);
    expect(perMaster(SIX_MASTERS, 4)).toEqual([1, 1, 0, 1, 1, 0]);
    expect(perMaster(THREE_MASTERS, 32)).toEqual([11, 11, 10]);
    expect(perMaster(SIX_MASTERS, 32)).toEqual([6, 5, 5, 6, 5, 5]);
  });

  it('given any number of partitions up to 1024 (the most RELAY_PARTITIONS allows), then every standard layout whose master count divides 48 is at most one apart', () => {
    // The scheme's guarantee: every aligned block of m consecutive partitions lands on m different masters.
    for (const masters of [2, 3, 4, 6, 8, 12, 16, 24, 48]) {
      const layout = standardLayout(masters);
      const counts = layout.map(() => 0);
      let worst = 0;
      for (let partition = 0; partition < 1024; partition++) {
        counts[ownerOf(layout, partitionSlot(partition))]! += 1;
        worst = Math.max(worst, spread(counts));
      }
      expect([masters, worst]).toEqual([masters, 1]);
    }
  });

  it('given 16 partitions, then any standard layout of 2 to 16 masters is at most one apart (each takes a different sixteenth of the slots)', () => {
    for (let masters = 2; masters <= 16; masters++) expect([masters, spread(perMaster(standardLayout(masters), 16))]).toEqual([masters, 16 % masters === 0 ? 0 : 1]);
    expect(SIXTEEN.map(([, slot]) => Math.floor(slot / 1024)).sort((a, b) => a - b)).toEqual([...Array(16).keys()]);
  });

  it('given partitions 0 to 47, then each sits in the lowest free 48th of the slots that keeps every such layout\'s blocks on distinct masters, and later passes in eighths 0, 4, 2, 6, 1, 5, 3, 7 of it', () => {
    // The rule as documented, derived again here: cells are the standard layout of 48 masters.
    const divisors = [2, 3, 4, 6, 8, 12, 16, 24, 48];
    const order: number[] = [];
    for (let partition = 0; partition < 48; partition++) {
      const allowed = (cell: number) => !order.includes(cell)
        && divisors.every((m) => order.slice(partition - (partition % m)).every((taken) => Math.floor(taken / (48 / m)) !== Math.floor(cell / (48 / m))));
      order.push([...Array(48).keys()].find(allowed)!);
    }
    const eighths = [0, 4, 2, 6, 1, 5, 3, 7];
    const windows = standardLayout(48 * 8);
    for (let partition = 0; partition < 1024; partition++) {
      const window = 8 * order[partition % 48]! + eighths[Math.floor(partition / 48) % 8]!;
      expect([partition, ownerOf(windows, partitionSlot(partition))]).toEqual([partition, window]);
    }
  });

  it('given a partition asked for again, then the tag is the same and still the tag of its own slot', () => {
    for (const partition of [0, 7, 15, 99, 100, 1023]) {
      expect(partitionTag(partition)).toBe(partitionTag(partition));
      expect(hashSlot(partitionTag(partition))).toBe(partitionSlot(partition));
      expect(partitionTag(partition)).toMatch(new RegExp(`^\\{p${String(partition).padStart(2, '0')}\\.\\d+\\}$`));
    }
  });

  it('given something that is not a partition number, then there is no tag for it', () => {
    for (const wrong of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => partitionTag(wrong)).toThrow(RangeError);
  });
});

describe('parseFeedChannelName', () => {
  it('given the name of any channel, then it reads back the channel', () => {
    const channels: FeedChannel[] = [0, 7, 15, 100, 1023].flatMap((partition) => [
      { kind: 'chat', partition, chatId: '00000000-0000-4000-8000-000000000001' },
      { kind: 'chat', partition, chatId: 'a:b:chat:c' },
      { kind: 'members', partition },
      { kind: 'tick', partition },
    ]);
    for (const channel of channels) expect(parseFeedChannelName(feedChannelName(channel))).toEqual(channel);
    expect(feedChannelName({ kind: 'chat', partition: 7, chatId: 'c-1' })).toBe('{p07.502}:chat:c-1');
    expect(feedChannelName({ kind: 'members', partition: 7 })).toBe('{p07.502}:members');
    expect(feedChannelName({ kind: 'tick', partition: 7 })).toBe('{p07.502}:tick');
  });

  it('given a name whose tag is not exactly its partition\'s, then it is not ours', () => {
    const notOurs = [
      // Earlier releases' tags.
      '{p07}:chat:c-1',
      '{p07}:members',
      '{p07}:tick',
      // Another k, with or without a slot of its own partition's window.
      '{p07.0}:tick',
      '{p07.501}:tick',
      '{p07.5020}:tick',
      '{p07.0502}:tick',
      // Another partition's k, other spellings of the partition number.
      '{p08.502}:tick',
      '{p7.502}:tick',
      '{p007.502}:tick',
      '{P07.502}:tick',
      // Not a channel, or not a whole name.
      '{p07.502}:epoch',
      '{p07.502}:chat:',
      '{p07.502}',
      'x{p07.502}:tick',
      '{p07.502}:tick ',
      '{p07.502.1}:tick',
    ];
    for (const name of notOurs) expect([name, parseFeedChannelName(name)]).toEqual([name, null]);
  });
});
