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

  it('reads a long backlog a page at a time, waiting for each page to be delivered', async () => {
    const positions = Array.from({ length: 1200 }, (_, i) => `1.${i + 1}`);
    const reader = outboxOf(positions);
    const pagesRead: number[] = [];
    const counting = { page: async (...args: Parameters<OutboxReader['page']>) => {
      const page = await reader.page(...args);
      pagesRead.push(page.records.length);
      return page;
    } } as unknown as OutboxReader;
    let release: () => void = () => undefined;
    let delivered = 0;
    const feed = new GaplessFeed(counting, {
      deliver: () => {
        delivered++;
        return new Promise<void>((resolve) => (release = resolve));
      },
      onError: (error) => {
        throw error;
      },
    });
    feed.accept(record('1.0', '0.0'));
    const caughtUp = feed.catchUp();
    await new Promise((resolve) => setImmediate(resolve));
    expect(pagesRead).toEqual([500]);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(pagesRead).toEqual([500, 500]);
    for (let i = 0; i < 5; i++) {
      release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await caughtUp;
    expect(delivered).toBe(1201);
  });
});
