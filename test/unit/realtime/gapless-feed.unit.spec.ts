import type { RelayedRecord } from '../../../src/application';
import { GaplessFeed } from '../../../src/infrastructure/receiver/gapless-feed';
import type { OutboxReader } from '../../../src/infrastructure/relay/outbox-reader';

const record = (position: string, previous?: string): RelayedRecord => ({ position, previous, messages: [] });

/** The outbox as a list, read the way OutboxReader reads it: after a position, before another. */
function outboxOf(positions: string[]): OutboxReader {
  const order = (p: string) => Number(p.split('.')[1]);
  return {
    after: async (after: string, limit: number, before?: string) =>
      positions
        .filter((p) => order(p) > order(after) && (before === undefined || order(p) < order(before)))
        .slice(0, limit)
        .map((p) => record(p)),
  } as unknown as OutboxReader;
}

describe('GaplessFeed', () => {
  function feed(outbox: string[]) {
    const delivered: string[] = [];
    const errors: unknown[] = [];
    const instance = new GaplessFeed(outboxOf(outbox), { deliver: (r) => delivered.push(r.position), onError: (e) => errors.push(e) });
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
});
