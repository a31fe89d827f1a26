import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { launchChromium } from '../support/browser';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';

/** Waits on the page, never on the clock; generous, for a loaded 2-core machine. */
const WAIT_MS = 30_000;
const until = <T>(assertion: () => Promise<T>, timeoutMs = WAIT_MS) => eventually(assertion, timeoutMs);

/**
 * GraphiQL at /graphql runs subscriptions over graphql-ws, authenticated with the Authorization header
 * typed in its Headers editor (DESIGN.md §5, §6), with every request outside the server refused.
 */
describe('GraphiQL in Chromium: a subscription over the WebSocket, authenticated from the Headers editor', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: Error[] = [];
  const outside: string[] = [];
  /** What the page sent on its sockets, parsed: graphql-ws messages. */
  const socketMessages: { type: string; payload?: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    browser = await launchChromium();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.port === String(server.port) || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      outside.push(url.toString());
      return route.abort();
    });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error));
    page.on('websocket', (socket) => {
      socket.on('framesent', ({ payload }) => socketMessages.push(JSON.parse(String(payload))));
    });
    await page.goto(server.url);
    await page.locator('.graphiql-container').first().waitFor({ timeout: WAIT_MS });
  });

  afterEach(async () => {
    await context.close();
    socketMessages.length = 0;
    // An exception in the page, or a request to another origin, is a failure even when the assertions passed.
    expect(pageErrors.splice(0).map(String)).toEqual([]);
    expect(outside.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await database?.drop();
  });

  /** Replaces the text of a GraphiQL editor, found by its section's label, as a paste would. */
  async function typeInto(section: 'Operation Editor' | 'Headers', text: string): Promise<void> {
    await page.locator(`section[aria-label="${section}"] .graphiql-editor:not(.hidden) .monaco-editor`).click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(text);
  }

  async function setHeaders(headers: Record<string, string>): Promise<void> {
    await page.getByRole('button', { name: /^headers$/i }).click();
    await typeInto('Headers', JSON.stringify(headers));
  }

  /** The result pane's text; Monaco draws spaces as no-break spaces. */
  async function result(): Promise<string> {
    return (await page.locator('.graphiql-response').innerText()).replace(/\u00a0/g, ' ');
  }

  async function run(): Promise<void> {
    await page.getByRole('button', { name: /execute query/i }).click();
  }

  it('answers a query over HTTP, then shows messages posted over HTTP in the result pane, the last one live', async () => {
    const aliceToken = await tokenFor('alice');
    const { createChat } = await ok<{ createChat: { id: string } }>(
      server.url,
      aliceToken,
      'mutation { createChat(input: { name: "GraphiQL", participantIds: ["bob"] }) { id } }',
    );
    // `after: head` makes the subscription gapless, so the message is in the pane however the socket's
    // subscribe and the POST below interleave.
    const { head } = await ok<{ head: string }>(server.url, aliceToken, '{ head }');

    await setHeaders({ Authorization: `Bearer ${await tokenFor('bob')}` });
    // Queries keep going over HTTP, with the same header.
    await typeInto('Operation Editor', '{ me }');
    await run();
    await until(async () => expect(await result()).toContain('"me": "bob"'));
    expect(socketMessages).toEqual([]);

    await typeInto(
      'Operation Editor',
      `subscription { messageAdded(chatId: "${createChat.id}", after: "${head}") { id content cursor } }`,
    );
    await run();
    await until(async () => expect(socketMessages.map((message) => message.type)).toContain('subscribe'));

    const post = async (content: string) =>
      (
        await ok<{ createMessage: { id: string; cursor: string } }>(
          server.url,
          aliceToken,
          'mutation ($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id cursor } }',
          { chatId: createChat.id, content },
        )
      ).createMessage;
    const shown = (message: { id: string; cursor: string }, content: string) =>
      until(async () => {
        const text = await result();
        expect(text).toContain(`"id": "${message.id}"`);
        expect(text).toContain(`"content": "${content}"`);
        expect(text).toContain(`"cursor": "${message.cursor}"`);
      });

    await shown(await post('Hello from HTTP'), 'Hello from HTTP');
    // Once the first one is shown the subscription is surely live: the next one can only come live.
    await shown(await post('And another'), 'And another');
    // The token went as connectionParams, the way DESIGN.md §5 asks for it, not only as an HTTP header.
    const init = socketMessages.find((message) => message.type === 'connection_init');
    expect(init?.payload).toEqual({ authorization: expect.stringMatching(/^Bearer /) });
  }, 120_000);

  it('without an Authorization header, says why the socket was refused', async () => {
    await typeInto('Operation Editor', 'subscription { chatAdded { id } }');
    await run();
    await until(async () => expect(await result()).toMatch(/WebSocket closed with 4401: Unauthorized/));
    expect(socketMessages.find((message) => message.type === 'connection_init')?.payload).toEqual({});
  }, 120_000);
});
