import { DEFAULT_BACKOFF, ParleyClient, ParleyError, reconnectDelay } from '../../client';
import { ChatList } from './chat-list';
import { ChatView } from './chat-view';
import { connectionStatus } from './connection-status';
import { h, replaceChildren } from './dom';
import { newChatForm } from './new-chat-form';
import { ME, type Chat } from './operations';
import { devSignIn, devSignInAvailable, SessionEnded, storeSession, type Session } from './session';

/** The page's origin serves /graphql over HTTP and WebSocket alike (DESIGN.md §9). */
const GRAPHQL_URL = new URL('/graphql', window.location.href).toString();

/** The signed-in page: the chat list on one side, the open chat on the other, the connection status on top. */
export class ChatApp {
  private readonly client: ParleyClient;
  private list: ChatList | null = null;
  private view: ChatView | null = null;
  private readonly chatArea = h('div', { class: 'chat-area' });
  private readonly status = connectionStatus();
  private ended = false;

  constructor(private readonly root: HTMLElement, private session: Session, private readonly signedOut: (reason?: string) => void) {
    this.client = new ParleyClient({
      url: GRAPHQL_URL,
      getToken: ({ refresh }) => this.token(refresh),
      isOnline: () => navigator.onLine,
      backoff: { maxMs: 5_000 },
      onError: (error) => {
        if (!(error instanceof SessionEnded)) console.warn('parley:', error);
      },
    });
    this.status.show(this.client.state);
    this.client.onStateChange((state) => {
      this.status.show(state);
      // Read marks that failed while away are sent again.
      if (state === 'connected') this.view?.markNewestRead();
    });
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  async start(): Promise<void> {
    let me: string;
    try {
      ({ me } = await this.untilAnswered(() => this.client.request<{ me: string }>(ME)));
    } catch (error) {
      if (!(error instanceof SessionEnded)) this.signOut('That token was refused: sign in again.');
      return;
    }
    if (this.ended) return;
    const list = new ChatList(this.client, me, {
      open: (chat) => void this.open(chat, me),
      left: (chatId) => {
        if (this.view?.chat.id === chatId) this.closeChat('You are no longer in that chat.');
      },
      updated: (chat) => {
        if (this.view?.chat.id === chat.id) this.view.showChat(chat);
      },
      failed: (error) => console.warn('parley: a chat list subscription ended', error),
    });
    this.list = list;
    replaceChildren(
      this.root,
      h(
        'header',
        { class: 'top' },
        h('h1', {}, 'Parley'),
        this.status.element,
        h('p', { class: 'who' }, 'Signed in as ', h('strong', {}, me), ' ', h('button', { type: 'button', onclick: () => this.signOut() }, 'Sign out')),
      ),
      h(
        'main',
        { class: 'layout' },
        h('aside', { class: 'sidebar' }, h('h2', {}, 'Chats'), newChatForm(this.client, (chat) => this.created(chat, me)), list.element),
        this.chatArea,
      ),
    );
    this.closeChat();
    await this.untilAnswered(() => list.load()).catch(() => undefined);
  }

  /**
   * Runs a first request again until the server answers it (it may be restarting, or the network
   * away); a refused token or a closed session ends it.
   */
  private async untilAnswered<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request();
      } catch (error) {
        if (this.ended || error instanceof SessionEnded || (error instanceof ParleyError && error.code === 'UNAUTHENTICATED')) throw error;
        console.warn('parley: retrying', error);
        await new Promise((resolve) => setTimeout(resolve, reconnectDelay(attempt, { ...DEFAULT_BACKOFF, maxMs: 5_000 }, Math.random)));
      }
    }
  }

  private created(chat: Chat, me: string): void {
    this.list?.upsertChat(chat);
    void this.open(chat, me);
  }

  private async open(chat: Chat, me: string): Promise<void> {
    if (this.view?.chat.id === chat.id) return this.view.focus();
    this.view?.close();
    const view = new ChatView(this.client, me, chat, {
      newestChanged: (chatId, newest) => this.list?.showMessage(newest, chatId, true),
      lost: (chatId, error) => {
        if (this.view?.chat.id === chatId) this.closeChat(error.code === 'FORBIDDEN' ? 'You are no longer in that chat.' : error.message);
      },
    });
    this.view = view;
    this.list?.setOpen(chat.id);
    replaceChildren(this.chatArea, view.element);
    try {
      await view.open();
      view.focus();
    } catch (error) {
      if (this.view === view) this.closeChat(`That chat did not open: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private closeChat(notice?: string): void {
    this.view?.close();
    this.view = null;
    this.list?.setOpen(null);
    replaceChildren(
      this.chatArea,
      h('div', { class: 'placeholder' }, notice && h('p', { role: 'alert' }, notice), h('p', {}, 'Choose a chat, or start one with “New chat”.')),
    );
  }

  private async token(refresh: boolean): Promise<string> {
    if (!refresh) return this.session.token;
    if (!this.session.devUserId || !(await devSignInAvailable())) {
      // Reached from the socket (4401, 4403) and from HTTP (UNAUTHENTICATED) alike: either way the user signs in again.
      queueMicrotask(() => this.signOut('Your session has ended: sign in again.'));
      throw new SessionEnded('the token was refused');
    }
    this.session = await devSignIn(this.session.devUserId);
    storeSession(this.session);
    return this.session.token;
  }

  private readonly onOnline = () => {
    if (this.client.state !== 'connected') this.client.reconnect();
  };

  private readonly onOffline = () => this.status.show(this.client.state === 'connected' ? 'connected' : 'offline');

  signOut(reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.view?.close();
    this.list?.close();
    this.client.close();
    storeSession(null);
    this.signedOut(reason);
  }
}
