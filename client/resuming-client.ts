import { createClient, type Client, type ClientOptions, type FormattedExecutionResult, type Sink, type SubscribePayload } from 'graphql-ws';
import { DEFAULT_BACKOFF, reconnectDelay } from './backoff';
import { mayMutate } from './operation-safety';

/**
 * graphql-ws's options, with its retry settings meaning the same thing but applied by this wrapper:
 * the wrapper, not graphql-ws, sends a subscription again after a lost socket, so that it can change
 * `after`. Defaults differ where a chat client needs it: `retryAttempts` is unlimited (resuming is
 * cheap and loses nothing), and `retryWait` is the library's jittered backoff (0.5 s doubling to 15 s).
 */
export interface ResumingClientOptions extends ClientOptions {
  /**
   * A resumable subscription was answered `CURSOR_EXPIRED`: the server no longer holds everything after
   * its cursor (the client was away longer than the server's OUTBOX_RETENTION). Reload, with queries, the
   * state it keeps current (with Apollo, `client.refetchQueries({ include: 'active' })`; with urql, run
   * the queries again with `requestPolicy: 'network-only'`); once the returned promise settles the
   * subscription goes on from the server's head as read just before this was called, so that nothing
   * after the reload is missed. Without it, the subscription ends with the error, as any other.
   */
  onCursorExpired?: (payload: SubscribePayload) => void | Promise<void>;
}

/**
 * Close codes after which trying again cannot help, as graphql-ws has them (a token refused at
 * `connection_init` is 4401: get a new one and make a new client). 4403, a token that expired on an
 * open socket, is not among them: the next connection asks `connectionParams` for a fresh token.
 */
const FATAL_CLOSE_CODES = new Set([4004, 4005, 4400, 4401, 4406, 4409, 4429, 4500]);
/** The 1xxx codes a network or a restarting server produces; every other 1xxx is a protocol failure. */
const TRANSIENT_1XXX = new Set([1001, 1005, 1006, 1012, 1013, 1014]);

const AFTER_VARIABLE = /\$after\s*:\s*String\b/;

function closeCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error) || !('reason' in error)) return undefined;
  return typeof error.code === 'number' ? error.code : undefined;
}

/** A lost socket, as opposed to the server's answer to this operation (an array of GraphQL errors). */
function isConnectionFailure(error: unknown): boolean {
  if (Array.isArray(error)) return false;
  const code = closeCode(error);
  if (code === undefined) return true; // a network error before any close (refused, reset, DNS)
  if (FATAL_CLOSE_CODES.has(code)) return false;
  return code < 1000 || code > 1999 || TRANSIENT_1XXX.has(code);
}

function isCursorExpired(error: unknown): boolean {
  return Array.isArray(error) && error.some((each) => (each as { extensions?: { code?: unknown } })?.extensions?.code === 'CURSOR_EXPIRED');
}

/** The cursor of a subscription payload: the `cursor` of its (single) root field. */
function cursorOf(result: FormattedExecutionResult<Record<string, unknown>, unknown>): string | undefined {
  const root = result.data ? Object.values(result.data)[0] : undefined;
  const cursor = typeof root === 'object' && root !== null ? (root as { cursor?: unknown }).cursor : undefined;
  return typeof cursor === 'string' ? cursor : undefined;
}

interface Tracked {
  payload: SubscribePayload;
  sink: Sink<FormattedExecutionResult<any, any>>;
  /** The operation declares `$after: String`: it is resumed with the last cursor received. */
  resumable: boolean;
  /** A mutation is never sent twice: the lost socket may have carried it to the server already. */
  once: boolean;
  after: string | undefined;
  release: (() => void) | null;
  done: boolean;
}

/**
 * A graphql-ws `Client` whose subscriptions resume where they left off. Give it to Apollo's
 * `GraphQLWsLink` or urql's `subscriptionExchange` as you would graphql-ws's own client.
 *
 * It relies on one rule of the server (DESIGN.md §4): a subscription sent with `after:` the cursor of
 * the last payload received sends what came after it, with no gap and no repeat. Cursors stay opaque
 * strings here: they are kept and sent back, never compared or read.
 *
 * Convention: a resumable operation declares `$after: String`, passes it to its field's `after`, and
 * selects `cursor`. Subscriptions that do not declare it, and queries, are sent again as they were
 * first sent; a mutation is not (it ends with the close event, as with graphql-ws without retries).
 *
 * How: graphql-ws runs with `retryAttempts: 0`, so a lost socket ends each subscription with the close
 * event (its documented behaviour) instead of silently resending the first variables. The wrapper then
 * subscribes again, after a backoff, with `after` set to the last cursor it passed on; graphql-ws
 * (lazy) opens a new socket for it, calling `url` and `connectionParams` again. Only the public
 * `createClient`/`subscribe`/`on` API is used.
 *
 * A resumable subscription started without `after` first asks the socket for `{ head }` and starts
 * there, so that even a loss before its first payload has a cursor to resume from.
 */
export function createResumingClient(options: ResumingClientOptions): Client {
  const { retryAttempts = Infinity, retryWait, shouldRetry = isConnectionFailure, onCursorExpired, ...rest } = options;
  const inner = createClient({ ...rest, lazy: true, retryAttempts: 0 });
  let waiting: Tracked[] = [];
  let retries = 0;
  let retrying = false;
  let disposed = false;

  // A connection that was acknowledged counts as a success: the next loss starts the backoff again.
  inner.on('connected', () => {
    retries = 0;
  });

  function send(tracked: Tracked): void {
    if (tracked.done) return;
    if (tracked.resumable && tracked.after === undefined) return startAtHead(tracked);
    const payload = tracked.resumable
      ? { ...tracked.payload, variables: { ...tracked.payload.variables, after: tracked.after } }
      : tracked.payload;
    tracked.release = inner.subscribe<Record<string, unknown>, unknown>(payload, {
      next: (result) => {
        if (tracked.done) return;
        if (tracked.resumable) tracked.after = cursorOf(result) ?? tracked.after;
        tracked.sink.next(result);
      },
      error: (error) => {
        if (tracked.resumable && onCursorExpired && isCursorExpired(error)) return startAtHead(tracked, onCursorExpired);
        lost(tracked, error);
      },
      complete: () => finish(tracked, () => tracked.sink.complete()),
    });
  }

  /** `reload`: after CURSOR_EXPIRED, called between reading the head and subscribing after it. */
  function startAtHead(tracked: Tracked, reload?: (payload: SubscribePayload) => void | Promise<void>): void {
    let handedOver = false;
    tracked.release = inner.subscribe<{ head?: string }>({ query: '{ head }' }, {
      next: (result) => {
        const head = result.data?.head;
        if (tracked.done || handedOver || typeof head !== 'string') return;
        // Subscribed while the query still holds the socket: a lazy client would otherwise close it in between.
        handedOver = true;
        tracked.after = head;
        if (!reload) return send(tracked);
        // The head query's socket may close while the application reloads: a lazy client opens another.
        Promise.resolve()
          .then(() => reload(tracked.payload))
          .catch(() => undefined)
          .then(() => send(tracked));
      },
      error: (error) => {
        if (!handedOver) lost(tracked, error);
      },
      complete: () => {
        if (!handedOver) finish(tracked, () => tracked.sink.error(new Error('the server answered { head } without a head')));
      },
    });
  }

  function lost(tracked: Tracked, error: unknown): void {
    tracked.release = null;
    if (tracked.done) return;
    if (disposed || tracked.once || !shouldRetry(error) || retries >= retryAttempts) return finish(tracked, () => tracked.sink.error(error));
    waiting.push(tracked);
    if (retrying) return;
    // One wait for every subscription of the lost socket: they come back together, on one new socket.
    retrying = true;
    const attempt = retries++;
    const wait = retryWait ? retryWait(attempt) : new Promise<void>((resolve) => setTimeout(resolve, reconnectDelay(attempt, DEFAULT_BACKOFF, Math.random)));
    wait.then(() => {
      retrying = false;
      const again = waiting;
      waiting = [];
      for (const each of again) send(each);
    }, (error: unknown) => {
      retrying = false;
      const failed = waiting;
      waiting = [];
      for (const each of failed) finish(each, () => each.sink.error(error));
    });
  }

  function finish(tracked: Tracked, tell: () => void): void {
    if (tracked.done) return;
    tracked.done = true;
    tell();
  }

  function subscribe<Data = Record<string, unknown>, Extensions = unknown>(payload: SubscribePayload, sink: Sink<FormattedExecutionResult<Data, Extensions>>): () => void {
    const after = payload.variables?.after;
    const tracked: Tracked = {
      payload,
      sink,
      resumable: AFTER_VARIABLE.test(payload.query),
      once: mayMutate(payload.query),
      after: typeof after === 'string' ? after : undefined,
      release: null,
      done: false,
    };
    send(tracked);
    return () => {
      if (tracked.done) return;
      const release = tracked.release;
      tracked.done = true;
      tracked.release = null;
      waiting = waiting.filter((each) => each !== tracked);
      // Released on the next turn: graphql-ws 6.4 counts a release twice when it comes from inside `next`
      // and the server's `complete` of the same operation is in the same read (as urql does with a
      // query), and its lazy socket then closes under the other subscriptions, which end without a word.
      // A turn later that `complete` has ended the operation already, and the release does nothing.
      if (release) setTimeout(release, 0);
    };
  }

  return {
    on: inner.on,
    subscribe,
    iterate: <Data = Record<string, unknown>, Extensions = unknown>(payload: SubscribePayload) => iterate<Data, Extensions>(subscribe, payload),
    terminate: () => inner.terminate(),
    async dispose() {
      disposed = true;
      // Subscriptions waiting to be sent again end here; those on the socket end when dispose closes it.
      for (const tracked of waiting) finish(tracked, () => tracked.sink.complete());
      waiting = [];
      await inner.dispose();
    },
  };
}

/** `Client.iterate` on top of `subscribe`, as graphql-ws builds its own. */
function iterate<Data, Extensions>(
  subscribe: (payload: SubscribePayload, sink: Sink<FormattedExecutionResult<Data, Extensions>>) => () => void,
  payload: SubscribePayload,
): AsyncIterableIterator<FormattedExecutionResult<Data, Extensions>> {
  const pending: FormattedExecutionResult<Data, Extensions>[] = [];
  let ended = false;
  let failure: { error: unknown } | null = null;
  let wake = () => undefined as void;
  const release = subscribe(payload, {
    next: (value) => {
      pending.push(value);
      wake();
    },
    error: (error) => {
      ended = true;
      failure = { error };
      wake();
    },
    complete: () => {
      ended = true;
      wake();
    },
  });
  const iterator: AsyncIterableIterator<FormattedExecutionResult<Data, Extensions>> = {
    async next() {
      while (!pending.length && !ended) await new Promise<void>((resolve) => (wake = resolve));
      if (pending.length) return { done: false, value: pending.shift()! };
      if (failure) throw (failure as { error: unknown }).error;
      return { done: true, value: undefined };
    },
    async return() {
      ended = true;
      release();
      wake();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
