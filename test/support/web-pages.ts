import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium } from './browser';
import { eventually } from './eventually';
import { REPO_ROOT } from './parley-process';
import { tokenFor } from './test-server';

/** Waits on the page, never on the clock; generous, for a loaded 2-core machine. */
const WAIT_MS = 30_000;
const until = <T>(assertion: () => Promise<T>) => eventually(assertion, WAIT_MS);

/** The servers serve the web client from dist/web, which only the build writes. */
export function requireBuiltWebClient(): void {
  if (!existsSync(join(REPO_ROOT, 'dist/web/index.html'))) throw new Error('dist/web is missing: run npm run build first');
}

/** What a user sees of the web client, by the accessible names of DESIGN.md §9. */
export class ChatPage {
  constructor(readonly page: Page) {}

  get chats(): Locator {
    return this.page.getByRole('list', { name: 'Chats' });
  }

  chat(name: string): Locator {
    return this.chats.getByRole('listitem').filter({ hasText: name });
  }

  get messages(): Locator {
    return this.page.getByRole('log', { name: 'Messages' }).getByRole('article');
  }

  message(text: string): Locator {
    return this.messages.filter({ hasText: text });
  }

  get status(): Locator {
    return this.page.getByRole('status', { name: 'Connection' });
  }

  get composer(): Locator {
    return this.page.getByRole('textbox', { name: 'Message' });
  }

  get typing(): Locator {
    return this.page.getByRole('status', { name: 'Typing' });
  }

  /** Waits until the page is signed in: its chat list shows and its status reads "Connected". */
  async untilConnected(): Promise<void> {
    await this.chats.waitFor({ timeout: WAIT_MS });
    await until(async () => expect(await this.statusText()).toBe('Connected'));
  }

  async send(text: string): Promise<void> {
    await this.composer.fill(text);
    await this.composer.press('Enter');
  }

  async open(name: string): Promise<void> {
    await this.chat(name).getByRole('button', { name }).click();
    await until(async () => expect(await this.page.getByRole('heading', { name }).count()).toBe(1));
  }

  /** The text of every message article, in order. */
  async contents(): Promise<string[]> {
    return this.messages.locator('.content').allInnerTexts();
  }

  async statusText(): Promise<string> {
    return (await this.status.textContent()) ?? '';
  }

  async typingText(): Promise<string> {
    return (await this.typing.textContent()) ?? '';
  }

  /** Waits until [status] "Typing" reads exactly `text`, checked in the page every 25 ms (a deliberate poll: when it changes is measured). */
  async typingBecomes(text: string): Promise<void> {
    await this.page.waitForFunction((expected) => document.querySelector('[role="status"][aria-label="Typing"]')?.textContent === expected, text, {
      timeout: WAIT_MS,
      polling: 25,
    });
  }

  /**
   * Per participant in the header, the label of the `img` that follows their id ("online"/"offline"),
   * or null for one followed by none (oneself).
   */
  async presence(): Promise<Record<string, string | null>> {
    return this.page.locator('.chat-header').getByRole('img').first().waitFor({ timeout: WAIT_MS }).then(() =>
      this.page.locator('.chat-header .participants').evaluate((line) => {
        const seen: Record<string, string | null> = {};
        let text = '';
        for (const node of Array.from(line.childNodes)) {
          if (node instanceof Element && node.getAttribute('role') === 'img') {
            const id = text.split(',').pop()!.trim();
            seen[id] = node.getAttribute('aria-label');
          } else {
            text += node.textContent ?? '';
          }
        }
        for (const id of text.split(',').map((each) => each.trim())) if (!(id in seen)) seen[id] = null;
        return seen;
      }),
    );
  }
}

/**
 * One Chromium for a test file, a context per page so that each user has a session of their own, and
 * the exceptions thrown in any of its pages, which fail a test even when its assertions passed.
 */
export class WebPages {
  private readonly contexts: BrowserContext[] = [];
  private readonly pageErrors: Error[] = [];

  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<WebPages> {
    return new WebPages(await launchChromium());
  }

  /** A blank page at the size of the README's screenshot. */
  async newPage(): Promise<ChatPage> {
    const context = await this.browser.newContext({ viewport: { width: 1180, height: 720 } });
    this.contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => this.pageErrors.push(error));
    return new ChatPage(page);
  }

  /** The web client at `webUrl`, signed in by a `#token=` link, once its chat list shows and it is connected. */
  async signedIn(webUrl: string, userId: string): Promise<ChatPage> {
    const chatPage = await this.newPage();
    await chatPage.page.goto(`${webUrl}#token=${await tokenFor(userId)}`);
    await chatPage.untilConnected();
    return chatPage;
  }

  /** The exceptions thrown in the pages since the last call, as text. */
  takePageErrors(): string[] {
    return this.pageErrors.splice(0).map(String);
  }

  async close(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.close()));
    await this.browser.close();
  }
}
