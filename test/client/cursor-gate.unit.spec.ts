import { compareCursors, CursorGate, MessageTimeline } from '../../client';

const event = (cursor: string, extra: Record<string, unknown> = {}) => ({ cursor, ...extra });

describe('client: cursor order', () => {
  it('compares "<txid>.<position>" as a pair of numbers, not as text', () => {
    expect(compareCursors('9.5', '10.1')).toBeLessThan(0);
    expect(compareCursors('10.10', '10.9')).toBeGreaterThan(0);
    expect(compareCursors('7.3', '7.3')).toBe(0);
    expect(compareCursors('18446744073709551615.1', '18446744073709551614.9')).toBeGreaterThan(0);
  });

  it('does not order cursors of another form', () => {
    expect(compareCursors('opaque', '10.1')).toBeNull();
  });
});

describe('client: CursorGate', () => {
  it('lets through what is after the starting cursor, once, and drops anything at or before the last one', () => {
    const gate = new CursorGate<{ cursor: string }>('10.1');
    expect(gate.admit(event('9.9'))).toBe(false);
    expect(gate.admit(event('10.1'))).toBe(false);
    expect(gate.admit(event('10.2'))).toBe(true);
    expect(gate.admit(event('10.2'))).toBe(false);
    expect(gate.admit(event('11.1'))).toBe(true);
    expect(gate.admit(event('10.3'))).toBe(false);
    expect(gate.resumeCursor).toBe('11.1');
  });

  it('starts at a head learned later only if nothing came first', () => {
    const gate = new CursorGate<{ cursor: string }>(undefined);
    gate.startAt('5.1');
    expect(gate.admit(event('5.1'))).toBe(false);
    expect(gate.admit(event('5.2'))).toBe(true);
    gate.startAt('1.1');
    expect(gate.resumeCursor).toBe('5.2');
  });

  it('orders user-scoped cursors partition by partition: one that moves any partition on is new', () => {
    // Given a user-scoped subscription resumed after a plain cursor (the previous release's, or head)
    const gate = new CursorGate<{ cursor: string }>('10.1');
    // Then a payload of partition 3 is new, once
    expect(gate.admit(event('10.1~3:12.1'))).toBe(true);
    expect(gate.admit(event('10.1~3:12.1'))).toBe(false);
    // and one of partition 5 below partition 3's position is new too: partitions interleave
    expect(gate.admit(event('10.1~3:12.1~5:11.4'))).toBe(true);
    // while a repeat from before, in every partition, is not
    expect(gate.admit(event('10.1~3:11.9'))).toBe(false);
    expect(gate.admit(event('9.9'))).toBe(false);
    expect(gate.resumeCursor).toBe('10.1~3:12.1~5:11.4');
  });

  it('falls back to dropping exact repeats for cursors it cannot order', () => {
    const gate = new CursorGate<{ cursor: string }>(undefined);
    expect(gate.admit(event('a'))).toBe(true);
    expect(gate.admit(event('a'))).toBe(false);
    expect(gate.admit(event('b'))).toBe(true);
  });

  describe('per partition (unreadCountUpdated: cursors rise per chat)', () => {
    const count = (chatId: string, cursor: string, unreadCount: number) => ({ chatId, cursor, unreadCount });
    const gate = () => new CursorGate<ReturnType<typeof count>>(undefined, (payload) => payload.chatId);

    it('lets a chat\'s value through even when its cursor is below another chat\'s', () => {
      const counts = gate();
      expect(counts.admit(count('b', '20.1', 3))).toBe(true);
      expect(counts.admit(count('a', '12.1', 1))).toBe(true);
      expect(counts.admit(count('a', '11.1', 7))).toBe(false);
      expect(counts.admit(count('a', '12.1', 1))).toBe(false);
      expect(counts.admit(count('a', '13.1', 0))).toBe(true);
    });

    it('lets a corrected value through under the same cursor, but not the same value twice', () => {
      const counts = gate();
      expect(counts.admit(count('a', '12.1', 1))).toBe(true);
      expect(counts.admit(count('a', '12.1', 2))).toBe(true);
      expect(counts.admit(count('a', '12.1', 2))).toBe(false);
    });

    it('resumes after the newest cursor it let through', () => {
      const counts = gate();
      counts.admit(count('b', '20.1', 3));
      counts.admit(count('a', '12.1', 1));
      expect(counts.resumeCursor).toBe('20.1');
    });
  });
});

describe('client: MessageTimeline', () => {
  const message = (id: string, seq: number, cursor: string, content = `m${seq}`) => ({ id, seq, cursor, content });

  it('merges history and live copies by id, in seq order, keeping the newest version', () => {
    const timeline = new MessageTimeline<ReturnType<typeof message>>();
    expect(timeline.upsert(message('c', 3, '30.1'))).toBe(true);
    expect(timeline.upsert(message('a', 1, '10.1'))).toBe(true);
    expect(timeline.upsert(message('b', 2, '25.1', 'edited'))).toBe(true);
    // The post arrives after its edit (separate subscriptions): the edit stays.
    expect(timeline.upsert(message('b', 2, '20.1', 'original'))).toBe(false);
    expect(timeline.upsert(message('a', 1, '10.1'))).toBe(false);
    expect(timeline.messages().map((m) => [m.id, m.content])).toEqual([['a', 'm1'], ['b', 'edited'], ['c', 'm3']]);
    expect(timeline.newest()?.id).toBe('c');
    expect(timeline.oldest()?.id).toBe('a');
  });

  it('never brings a deleted message back', () => {
    const timeline = new MessageTimeline<ReturnType<typeof message>>();
    timeline.upsert(message('a', 1, '10.1'));
    expect(timeline.remove('a')).toBe(true);
    expect(timeline.upsert(message('a', 1, '10.1'))).toBe(false);
    expect(timeline.remove('z')).toBe(false);
    expect(timeline.upsert(message('z', 9, '90.1'))).toBe(false);
    expect(timeline.size).toBe(0);
  });
});
