import type { ParleyClient, ResumableSubscription } from '../../client';
import { h, replaceChildren } from './dom';
import { shortTime } from './format';
import {
  CHAT_ADDED,
  CHAT_UPDATED,
  CHATS,
  LIST_UPDATES,
  UNREAD_COUNTS,
  type Chat,
  type ChatListUpdate,
  type Message,
  type UnreadCount,
} from './operations';

interface Entry {
  chat: Chat;
  lastMessage: Message | null;
}

export interface ChatListEvents {
  open(chat: Chat): void;
  /** The viewer is no longer in this chat. */
  left(chatId: string): void;
  /** A chat was renamed or its participants changed. */
  updated(chat: Chat): void;
  /** A subscription the server refused for good. */
  failed(error: Error): void;
}

/**
 * [list] "Chats" (DESIGN.md §9): every chat of the viewer with its last message and unread badge,
 * kept live by four user-scoped subscriptions that start at the `head` read with the list.
 */
export class ChatList {
  readonly element = h('ul', { 'aria-label': 'Chats', class: 'chats' });
  private readonly entries = new Map<string, Entry>();
  private readonly unread = new Map<string, number>();
  private readonly subscriptions: ResumableSubscription[] = [];
  private readonly items = new Map<string, Item>();
  private openChatId: string | null = null;

  constructor(private readonly client: ParleyClient, private readonly me: string, private readonly events: ChatListEvents) {}

  async load(): Promise<void> {
    const { chats, head } = await this.client.request<{ chats: Chat[]; head: string }>(CHATS);
    for (const chat of chats) this.upsertChat(chat);
    const failed = (error: Error) => this.events.failed(error);
    // After CURSOR_EXPIRED (the page was away longer than the server keeps history) each reloads the list.
    const reload = () => this.reload();
    this.subscriptions.push(
      this.client.subscribe<Chat>({ query: CHAT_ADDED, after: head }, { next: (chat) => this.upsertChat(chat), error: failed, reload }),
      this.client.subscribe<Chat>({ query: CHAT_UPDATED, after: head }, { next: (chat) => this.chatUpdated(chat), error: failed, reload }),
      this.client.subscribe<ChatListUpdate>({ query: LIST_UPDATES, after: head }, { next: (update) => this.showMessage(update.message), error: failed, reload }),
      this.client.subscribe<UnreadCount>({ query: UNREAD_COUNTS, after: head }, { next: (count) => this.setUnread(count.chatId, count.unreadCount), error: failed, reload }),
    );
    this.render();
  }

  /** The list as it stands now: chats left while away go, the others show their last message and count. */
  private async reload(): Promise<void> {
    const { chats } = await this.client.request<{ chats: Chat[] }>(CHATS);
    const present = new Set(chats.map((chat) => chat.id));
    for (const chatId of [...this.entries.keys()]) {
      if (present.has(chatId)) continue;
      this.entries.delete(chatId);
      this.events.left(chatId);
    }
    for (const chat of chats) {
      this.upsertChat(chat);
      this.unread.set(chat.id, chat.unreadCount);
    }
    this.render();
  }

  close(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  get(chatId: string): Chat | undefined {
    return this.entries.get(chatId)?.chat;
  }

  /** A chat this viewer created or was added to (from a mutation's answer or `chatAdded`). */
  upsertChat(chat: Chat): void {
    const known = this.entries.get(chat.id);
    this.entries.set(chat.id, { chat, lastMessage: newer(known?.lastMessage ?? null, chat.lastMessage) });
    if (!known) this.unread.set(chat.id, chat.unreadCount);
    this.render();
  }

  /** A message posted in a chat (someone else's from `messageUpdateForChatList`, one's own from the mutation), or the open chat's newest. */
  showMessage(message: Message | null, chatId = message?.chatId, replace = false): void {
    const entry = chatId ? this.entries.get(chatId) : undefined;
    if (!entry) return;
    entry.lastMessage = replace ? message : newer(entry.lastMessage, message);
    this.render();
  }

  setOpen(chatId: string | null): void {
    this.openChatId = chatId;
    this.render();
  }

  private chatUpdated(chat: Chat): void {
    if (!chat.participantIds.includes(this.me)) {
      this.entries.delete(chat.id);
      this.render();
      this.events.left(chat.id);
      return;
    }
    const known = this.entries.get(chat.id);
    this.entries.set(chat.id, { chat, lastMessage: newer(known?.lastMessage ?? null, chat.lastMessage) });
    this.render();
    this.events.updated(chat);
  }

  private setUnread(chatId: string, count: number): void {
    this.unread.set(chatId, count);
    this.render();
  }

  private render(): void {
    const ordered = [...this.entries.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
    // Items are kept and updated in place, so a focused button keeps its focus when a message arrives.
    ordered.forEach((entry, index) => {
      const item = this.items.get(entry.chat.id) ?? this.createItem(entry.chat.id);
      this.updateItem(item, entry);
      const at = this.element.children[index] ?? null;
      if (at !== item.element) this.element.insertBefore(item.element, at);
    });
    for (const [chatId, item] of this.items) {
      if (this.entries.has(chatId)) continue;
      item.element.remove();
      this.items.delete(chatId);
    }
    this.element.classList.toggle('empty', ordered.length === 0);
  }

  private createItem(chatId: string): Item {
    const name = h('button', { type: 'button', class: 'chat-name', onclick: () => {
      const chat = this.entries.get(chatId)?.chat;
      if (chat) this.events.open(chat);
    } });
    const badge = h('span', { class: 'badge-slot' });
    const last = h('p', { class: 'last-message' });
    const element = h('li', { class: 'chat', 'data-chat-id': chatId }, name, badge, last);
    const item = { element, name, badge, last };
    this.items.set(chatId, item);
    return item;
  }

  private updateItem(item: Item, { chat, lastMessage }: Entry): void {
    const isOpen = chat.id === this.openChatId;
    item.element.classList.toggle('open', isOpen);
    if (isOpen) item.name.setAttribute('aria-current', 'true');
    else item.name.removeAttribute('aria-current');
    if (item.name.textContent !== chat.name) item.name.textContent = chat.name;
    const unread = this.unread.get(chat.id) ?? 0;
    const badgeText = unread > 0 ? String(unread) : '';
    if ((item.badge.textContent ?? '') !== badgeText) {
      replaceChildren(item.badge, unread > 0 && h('span', { role: 'img', 'aria-label': `${unread} unread`, class: 'badge' }, unread));
    }
    const summary = lastMessage ? `${lastMessage.senderId === this.me ? 'You' : lastMessage.senderId}: ${lastMessage.content}` : 'No messages yet';
    const when = lastMessage ? shortTime(lastMessage.createdAt) : '';
    if (item.last.dataset.summary !== `${summary}\u0000${when}`) {
      item.last.dataset.summary = `${summary}\u0000${when}`;
      replaceChildren(item.last, h('span', { class: 'summary' }, summary), lastMessage && h('time', { datetime: lastMessage.createdAt }, when));
    }
  }
}

interface Item {
  element: HTMLLIElement;
  name: HTMLButtonElement;
  badge: HTMLSpanElement;
  last: HTMLParagraphElement;
}

/** The later of two versions of "the last message" by seq; an edit of the same message wins too. */
function newer(current: Message | null, candidate: Message | null): Message | null {
  if (!candidate) return current;
  if (!current || candidate.seq > current.seq) return candidate;
  if (candidate.id === current.id && candidate.cursor !== current.cursor && (candidate.editedAt ?? '') >= (current.editedAt ?? '')) return candidate;
  return current;
}

function activity({ chat, lastMessage }: Entry): string {
  const last = lastMessage?.createdAt ?? '';
  return last > chat.updatedAt ? last : chat.updatedAt;
}
