import type { RelayedRecord } from '../../../src/application';
import { GaplessFeed } from '../../../src/infrastructure/receiver/gapless-feed';
import type { OutboxReader } from '../../../src/infrastructure/relay/outbox-reader';

const record = (position: string, previous?: string): RelayedRecord => ({ position, previous, messages: [] });

/** The outbox as a list, read the way OutboxReader reads it: after a position, before another, in pages. */
function outboxOf(positions: string[], pageRows = 500): OutboxReader {
  const order = (p: string) => Number(p.split('.')[1]);
  return {
    page: async (after: string, options: { before?: string } = {}) => {
      const matching = positions.filter((p) => order(p) > order(after) && (options.before === undefined || order(p) < order(options.before)));
      return { records: matching.slice(0, pageRows).map((p) => record(p)), more: matching.length > pageRows };
    },
  } as unknown as OutboxReader;
}

describe('GaplessFeed', () => {
  function feed(outbox: string[]) {
    const delivered: string[] = [];
    const errors: unknown[] = [];
    const instance = new GaplessFeed(outboxOf(outbox), { deliver: (r) => void delivered.push(r.position), onError: (e) => errors.push(e) });
    return { instance, delivered, errors };
  }

  it('delivers a chain of records as it comes, and drops repeats', async () => {
    const { instance, delivered } = feed([]);
    instance.accept(record('1.1', '1.0'));
    instance.accept(record('1.2', '1.1'));
    instance.accept(record('1.1', '1.0'));
    instance.accept(record('1.2', '1.1'));
    await instance.catchUp();
    expect(delivered).toEqual(['1.1', '1.2']);
  });

  it('fills what it missed from the outbox before the record that revealed the gap', async () => {
    const { instance, delivered } = feed(['1.1', '1.2', '1.3', '1.4', '1.5']);
    instance.accept(record('1.1', '1.0'));
    instance.accept(record('1.5', '1.4'));
    await instance.catchUp();
    expect(delivered).toEqual(['1.1', '1.2', '1.3', '1.4', '1.5']);
  });

  it('catches up from the outbox after a reconnect even when nothing new is relayed', async () => {
    const { instance, delivered } = feed(['1.1', '1.2', '1.3']);
    instance.accept(record('1.1', '1.0'));
    await instance.catchUp();
    expect(delivered).toEqual(['1.1', '1.2', '1.3']);
    instance.accept(record('1.3', '1.2'));
    await instance.catchUp();
    expect(delivered).toEqual(['1.1', '1.2', '1.3']);
  });

  it('reads a long backlog a page at a time, each page only once the one before is delivered', async () => {
    // Given 1,200 records in the outbox, and a delivery that takes its time
    const positions = Array.from({ length: 1200 }, (_, i) => `1.${i + 1}`);
    const reader = outboxOf(positions);
    let delivered = 0;
    const deliveredBeforeEachPage: number[] = [];
    const counting = { page: async (...args: Parameters<OutboxReader['page']>) => {
      deliveredBeforeEachPage.push(delivered);
      return reader.page(...args);
    } } as unknown as OutboxReader;
    const feed = new GaplessFeed(counting, {
      deliver: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        delivered++;
      },
      onError: (error) => {
        throw error;
      },
    });

    // When it catches up from the start
    feed.accept(record('1.0', '0.0'));
    await feed.catchUp();

    // Then it read three pages, each after the whole page before it was delivered
    expect(deliveredBeforeEachPage).toEqual([1, 501, 1001]);
    expect(delivered).toBe(1201);
  });

  it('holds a bounded backlog when flooded, and delivers everything in order afterwards from the outbox', async () => {
    // Given a receiver whose delivery is far slower than what arrives, with room for 100 records
    const positions = Array.from({ length: 5000 }, (_, i) => `1.${i + 1}`);
    const delivered: string[] = [];
    let overflows = 0;
    let largestBacklog = 0;
    const feed = new GaplessFeed(outboxOf(positions), {
      deliver: async (r) => {
        await new Promise((resolve) => setImmediate(resolve));
        delivered.push(r.position);
      },
      onError: (error) => {
        throw error;
      },
      onOverflow: () => overflows++,
      maxBacklog: 100,
    });

    // When 5,000 records arrive at once
    let previous = '1.0';
    feed.accept(record('1.0', '0.0'));
    for (const position of positions) {
      feed.accept(record(position, previous));
      previous = position;
      largestBacklog = Math.max(largestBacklog, feed.backlog);
    }
    await feed.catchUp();

    // Then it never held more than its bound, and everything arrived once and in order
    expect(largestBacklog).toBeLessThanOrEqual(101);
    expect(overflows).toBeGreaterThan(0);
    expect(delivered).toEqual(['1.0', ...positions]);
  });
});
