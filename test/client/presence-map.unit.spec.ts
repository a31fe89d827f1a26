import { PresenceMap, type LiveSubscriptionHandlers, type PresenceSource, type UserPresence } from '../../client';

interface Frame extends UserPresence {
  userId: string;
}

/** The client as a presence map sees it: the test answers each `presence` query and plays the subscription's life. */
class FakeSource implements PresenceSource {
  readonly queries: { userIds: string[]; answer(presence: Frame[]): Promise<void>; fail(error: unknown): Promise<void> }[] = [];
  handlers: LiveSubscriptionHandlers<Frame> | null = null;
  subscriptions = 0;
  unsubscribed = false;

  request<T>(_query: string, variables: Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settled = async () => {
        for (let turn = 0; turn < 3; turn++) await Promise.resolve();
      };
      this.queries.push({
        userIds: variables.userIds as string[],
        answer: (presence) => (resolve({ presence } as T), settled()),
        fail: (error) => (reject(error), settled()),
      });
    });
  }

  subscribeLive<T>(request: { query: string }, handlers: LiveSubscriptionHandlers<T>) {
    expect(request.query).toContain('presenceChanged');
    this.subscriptions++;
    this.handlers = handlers as unknown as LiveSubscriptionHandlers<Frame>;
    return { unsubscribe: () => (this.unsubscribed = true) };
  }

  /** The subscription went out on a (new) socket. */
  start(): void {
    this.handlers!.started!();
  }

  lose(): void {
    this.handlers!.stopped!();
  }

  transition(frame: Frame): void {
    this.handlers!.next(frame);
  }

  lastQuery() {
    return this.queries[this.queries.length - 1]!;
  }
}

const online = (userId: string): Frame => ({ userId, online: true, lastSeenAt: null });
const offline = (userId: string, lastSeenAt = '2026-12-07T02:00:00.000Z'): Frame => ({ userId, online: false, lastSeenAt });

function states(map: PresenceMap): Record<string, boolean> {
  return Object.fromEntries([...map.state].map(([userId, presence]) => [userId, presence.online]));
}

describe('client: PresenceMap', () => {
  let source: FakeSource;
  let reported: unknown[];
  let map: PresenceMap;
  let changes: [string, boolean | undefined][];

  beforeEach(() => {
    source = new FakeSource();
    reported = [];
    map = new PresenceMap(source, ['bob', 'carol'], (error) => reported.push(error));
    changes = [];
    map.onChange((userId, presence) => changes.push([userId, presence?.online]));
  });

  it('loads its users with the presence query once the subscription runs, and reports each change', async () => {
    // Nothing is asked before presenceChanged is running: a transition in between would be missed
    expect(source.queries).toEqual([]);
    source.start();
    expect(source.lastQuery().userIds).toEqual(['bob', 'carol']);
    await source.lastQuery().answer([online('bob'), offline('carol')]);
    expect(states(map)).toEqual({ bob: true, carol: false });
    expect(map.get('carol')).toEqual({ online: false, lastSeenAt: '2026-12-07T02:00:00.000Z' });
    expect(changes).toEqual([['bob', true], ['carol', false]]);
  });

  it('follows transitions of its users and ignores everybody else', async () => {
    source.start();
    await source.lastQuery().answer([online('bob'), offline('carol')]);
    changes.length = 0;
    source.transition(offline('bob'));
    source.transition(online('carol'));
    source.transition(online('mallory'));
    expect(states(map)).toEqual({ bob: false, carol: true });
    expect(changes).toEqual([['bob', false], ['carol', true]]);
  });

  it('tells nothing when a frame repeats the state it has', async () => {
    source.start();
    await source.lastQuery().answer([online('bob')]);
    changes.length = 0;
    source.transition(online('bob'));
    expect(changes).toEqual([]);
  });

  it('loads again after a reconnect, because transitions during a disconnect are not replayed', async () => {
    // Given bob online
    source.start();
    await source.lastQuery().answer([online('bob'), online('carol')]);
    // When the connection is lost, bob goes offline meanwhile (no frame), and the subscription starts again
    source.lose();
    source.start();
    // Then the map asks again and takes the answer
    expect(source.queries).toHaveLength(2);
    await source.lastQuery().answer([offline('bob'), online('carol')]);
    expect(states(map)).toEqual({ bob: false, carol: true });
    // The same one subscription throughout: the client sends it again on each socket
    expect(source.subscriptions).toBe(1);
  });

  it('lets a transition that arrives while a load is in flight win over that load\'s answer', async () => {
    source.start();
    // The answer was read before carol came online; her transition arrives first
    source.transition(online('carol'));
    await source.lastQuery().answer([online('bob'), offline('carol')]);
    expect(states(map)).toEqual({ bob: true, carol: true });
  });

  it('leaves out a user the server does not answer for (no shared chat), and forgets one it stops answering for', async () => {
    source.start();
    await source.lastQuery().answer([online('bob'), online('carol')]);
    source.lose();
    source.start();
    await source.lastQuery().answer([online('bob')]);
    expect(states(map)).toEqual({ bob: true });
    expect(changes[changes.length - 1]).toEqual(['carol', undefined]);
  });

  it('loads only the users added by setUserIds, and forgets the ones removed', async () => {
    source.start();
    await source.lastQuery().answer([online('bob'), online('carol')]);
    map.setUserIds(['bob', 'dave']);
    expect(states(map)).toEqual({ bob: true });
    expect(source.lastQuery().userIds).toEqual(['dave']);
    await source.lastQuery().answer([offline('dave')]);
    expect(states(map)).toEqual({ bob: true, dave: false });
    // carol is no longer followed: her transitions are ignored
    source.transition(offline('carol'));
    expect(map.get('carol')).toBeUndefined();
  });

  it('waits for the subscription to run before loading users added while disconnected', async () => {
    source.start();
    await source.lastQuery().answer([online('bob'), online('carol')]);
    source.lose();
    map.setUserIds(['bob', 'carol', 'dave']);
    expect(source.queries).toHaveLength(1);
    source.start();
    expect(source.lastQuery().userIds).toEqual(['bob', 'carol', 'dave']);
  });

  it('reports a failed load and keeps following transitions', async () => {
    source.start();
    const failure = new Error('UNAVAILABLE');
    await source.lastQuery().fail(failure);
    expect(reported).toEqual([failure]);
    source.transition(online('bob'));
    expect(states(map)).toEqual({ bob: true });
  });

  it('unsubscribes on close and ignores a load answered after it', async () => {
    source.start();
    map.close();
    expect(source.unsubscribed).toBe(true);
    await source.lastQuery().answer([online('bob')]);
    expect(states(map)).toEqual({});
    expect(changes).toEqual([]);
  });
});
