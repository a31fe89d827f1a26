import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eventually } from '../support/eventually';
import { ok } from '../support/graphql-http';
import { REPO_ROOT } from '../support/parley-process';
import { ServedWebClient } from '../support/served-web-client';
import { tokenFor } from '../support/test-server';

/** Waits on the page, never on the clock; generous, for a loaded 2-core machine. */
const WAIT_MS = 30_000;
const until = <T>(assertion: () => Promise<T>, timeoutMs = WAIT_MS) => eventually(assertion, timeoutMs);

/** The README's picture. `UPDATE_SCREENSHOT=1 npx jest test/e2e/web-client` writes it; other runs keep theirs apart. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? resolve(REPO_ROOT, 'docs/web-client.png')
  : join(tmpdir(), `parley-web-client-${process.pid}.png`);

describe('web client in Chromium: two users, live updates, read marks, edits, and a resume after a cut', () => {
  const web = new ServedWebClient();

  beforeAll(() => web.start());

  afterEach(() => {
    // An exception in the page is a failure even when the assertions passed.
    expect(web.pages.takePageErrors()).toEqual([]);
  });

  afterAll(() => web.stop());

  it('shows a chat, messages, unread badges, "Seen by", edits and deletes live to both users, and resumes a page once it is back', async () => {
    // Given Alice signed in by name (development sign-in) and Bob by a #token= link through the proxy
    const alice = await web.pages.newPage();
    await alice.page.goto(web.server.webUrl);
    await alice.page.getByRole('textbox', { name: 'User name' }).fill('alice');
    await alice.page.getByRole('button', { name: 'Sign in' }).click();
    await alice.untilConnected();

    const bob = await web.pages.signedIn(web.proxy.url(web.server.webUrl), 'bob');
    // The token has left the address bar, so that it is not bookmarked or shared by accident
    expect(new URL(bob.page.url()).hash).toBe('');
    expect(await bob.chats.getByRole('listitem').count()).toBe(0);

    // When Alice creates a chat with Bob in the page, it appears live in Bob's list
    await alice.page.getByRole('button', { name: 'New chat' }).click();
    await alice.page.getByRole('textbox', { name: 'Chat name' }).fill('Weekend plans');
    await alice.page.getByRole('textbox', { name: 'Participants' }).fill('bob');
    await alice.page.getByRole('button', { name: 'Create' }).click();
    await until(async () => expect(await alice.page.getByRole('heading', { name: 'Weekend plans' }).count()).toBe(1));
    await bob.chat('Weekend plans').waitFor({ timeout: WAIT_MS });

    // A message from Alice raises Bob's unread badge while his chat is closed…
    await alice.send('Hi Bob! Hiking on Saturday?');
    await until(async () => expect(await alice.contents()).toEqual(['Hi Bob! Hiking on Saturday?']));
    await bob.chat('Weekend plans').getByRole('img', { name: '1 unread' }).waitFor({ timeout: WAIT_MS });
    await until(async () => expect(await bob.chat('Weekend plans').innerText()).toContain('alice: Hi Bob! Hiking on Saturday?'));
    await alice.send('Bring water.');
    await bob.chat('Weekend plans').getByRole('img', { name: '2 unread' }).waitFor({ timeout: WAIT_MS });

    // …and clears when he opens it; Alice then sees "Seen by bob" on her newest message
    await bob.open('Weekend plans');
    await until(async () => expect(await bob.contents()).toEqual(['Hi Bob! Hiking on Saturday?', 'Bring water.']));
    await until(async () => expect(await bob.chat('Weekend plans').getByRole('img').count()).toBe(0));
    await until(async () => expect(await alice.message('Bring water.').innerText()).toContain('Seen by bob'));
    expect(await alice.message('Hiking on Saturday').innerText()).not.toContain('Seen by');

    // A message typed by Bob (Shift+Enter for a new line) appears once in Alice's open chat
    await bob.composer.fill('Yes!');
    await bob.composer.press('Shift+Enter');
    await bob.composer.pressSequentially('Leaving at 8.');
    await bob.composer.press('Enter');
    await until(async () => expect(await alice.contents()).toEqual(['Hi Bob! Hiking on Saturday?', 'Bring water.', 'Yes!\nLeaving at 8.']));
    await until(async () => expect(await bob.message('Yes!').innerText()).toContain('Seen by alice'));

    // An edit and a delete show on both pages
    await alice.message('Bring water.').hover();
    await alice.message('Bring water.').getByRole('button', { name: 'Edit message' }).click();
    expect(await alice.composer.inputValue()).toBe('Bring water.');
    await alice.composer.fill('Bring water and snacks.');
    await alice.composer.press('Enter');
    for (const page of [alice, bob]) {
      await until(async () => expect(await page.message('Bring water and snacks.').innerText()).toContain('edited'));
    }
    await bob.message('Leaving at 8.').hover();
    await bob.message('Leaving at 8.').getByRole('button', { name: 'Delete message' }).click();
    for (const page of [alice, bob]) {
      await until(async () => expect(await page.contents()).toEqual(['Hi Bob! Hiking on Saturday?', 'Bring water and snacks.']));
    }
    // Bob's own messages have the buttons; Alice's do not, on his page
    expect(await bob.message('Hiking on Saturday').getByRole('button', { name: 'Edit message' }).count()).toBe(0);

    // When Bob's connection is cut for real and Alice posts meanwhile
    await web.proxy.cut();
    await until(async () => expect(await bob.statusText()).not.toBe('Connected'));
    expect(['Reconnecting…', 'Offline']).toContain(await bob.statusText());
    const whileAway = ['Are you there?', 'The forecast says sun.', 'See you at 8!'];
    for (const text of whileAway) {
      await alice.send(text);
      await until(async () => expect(await alice.contents()).toContain(text));
    }
    await web.proxy.restore();

    // Then his page resumes: "Connected" again, and the messages appear exactly once and in order
    await until(async () => expect(await bob.statusText()).toBe('Connected'));
    const conversation = ['Hi Bob! Hiking on Saturday?', 'Bring water and snacks.', ...whileAway];
    await until(async () => expect(await bob.contents()).toEqual(conversation));
    await until(async () => expect(await alice.message('See you at 8!').innerText()).toContain('Seen by bob'));
    expect(await bob.contents()).toEqual(conversation);
    expect(await alice.contents()).toEqual(conversation);
    // and his page is live again
    await bob.send('Back online. See you!');
    await until(async () => expect(await alice.contents()).toEqual([...conversation, 'Back online. See you!']));

    // The README's screenshot: Alice's page, with a second chat that has unread messages
    const team = (await ok(web.server.url, await tokenFor('carol'), 'mutation { createChat(input: { name: "Team", participantIds: ["alice"] }) { id } }')).createChat;
    for (const content of ['Standup moved to 10:00', 'Retro notes are in the doc']) {
      await ok(web.server.url, await tokenFor('carol'), 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id } }', {
        chatId: team.id,
        content,
      });
    }
    await alice.chat('Team').getByRole('img', { name: '2 unread' }).waitFor({ timeout: WAIT_MS });
    mkdirSync(resolve(SCREENSHOT, '..'), { recursive: true });
    await alice.page.mouse.move(0, 0);
    await alice.page.screenshot({ path: SCREENSHOT });
    expect(existsSync(SCREENSHOT)).toBe(true);
  }, 240_000);

  it('loads older history when the log is scrolled to the top, and follows a rename', async () => {
    const chat = (await ok(web.server.url, await tokenFor('dora'), 'mutation { createChat(input: { name: "Long history", participantIds: ["erin"] }) { id } }')).createChat;
    const post = 'mutation($chatId: ID!, $content: String!) { createMessage(createMessageInput: { chatId: $chatId, content: $content }) { id } }';
    for (let n = 1; n <= 60; n++) await ok(web.server.url, await tokenFor('dora'), post, { chatId: chat.id, content: `message ${n}` });

    const erin = await web.pages.signedIn(web.server.webUrl, 'erin');
    await erin.open('Long history');
    // The latest page first (50), in seq order
    await until(async () => expect(await erin.contents()).toEqual(Array.from({ length: 50 }, (_, i) => `message ${i + 11}`)));
    await erin.page.getByRole('log', { name: 'Messages' }).evaluate((log) => log.scrollTo({ top: 0 }));
    await until(async () => expect(await erin.contents()).toEqual(Array.from({ length: 60 }, (_, i) => `message ${i + 1}`)));

    // A rename and a new participant reach the open chat and the list live
    await ok(web.server.url, await tokenFor('dora'), 'mutation($id: ID!) { updateChat(input: { chatId: $id, name: "Archive", addParticipantIds: ["gus"] }) { id } }', { id: chat.id });
    await erin.chat('Archive').waitFor({ timeout: WAIT_MS });
    await until(async () => expect(await erin.page.getByRole('heading', { name: 'Archive' }).count()).toBe(1));
    await until(async () => expect(await erin.page.locator('.participants').innerText()).toBe('dora, erin, gus'));
  }, 120_000);

  it('signs in again with a fresh development token when the server refuses the old one', async () => {
    // A development session whose token the server no longer takes: the page asks /dev/token again
    const page = await web.pages.newPage();
    await page.page.goto(web.server.webUrl);
    await page.page.evaluate(() => sessionStorage.setItem('parley.session', JSON.stringify({ token: 'expired.token.here', devUserId: 'frank' })));
    await page.page.reload();
    await until(async () => expect(await page.statusText()).toBe('Connected'));
    await page.chats.waitFor({ timeout: WAIT_MS });
    expect(await page.page.getByText('Signed in as').innerText()).toContain('frank');
  }, 120_000);

  it('serves GraphiQL from the package: it renders with every request outside the server refused', async () => {
    const page = await web.pages.newPage();
    const outside: string[] = [];
    await page.page.context().route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.port === String(web.server.port) || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      outside.push(url.toString());
      return route.abort();
    });
    await page.page.goto(web.server.url);
    await page.page.locator('.graphiql-container').first().waitFor({ timeout: WAIT_MS });
    await page.page.getByRole('button', { name: /execute query/i }).waitFor({ timeout: WAIT_MS });
    expect(await page.page.title()).toBe('Parley GraphiQL');
    expect(outside).toEqual([]);
  }, 120_000);
});
