import { MessageTimeline, type ParleyClient, type ParleyError, type PresenceMap, type ResumableSubscription, type TypingIndicators } from '../../client';
import { h, replaceChildren } from './dom';
import { fullTime, newClientMessageId, shortTime } from './format';
import {
  CREATE_MESSAGE,
  DELETE_MESSAGE,
  MARK_READ,
  MESSAGE_ADDED,
  MESSAGE_DELETED,
  MESSAGE_READS,
  MESSAGE_UPDATED,
  MESSAGES,
  messageReadsOf,
  UPDATE_MESSAGE,
  type Chat,
  type Message,
  type MessageDeleted,
  type MessageRead,
} from './operations';
import { renderParticipants } from './participants-line';
import { typingStatus } from './typing-status';

const PAGE_SIZE = 50;
/** Closer than this to the top loads older history; closer than this to the bottom keeps following new messages. */
const EDGE_PX = 48;

export interface ChatViewEvents {
  /** The chat's newest message changed (posted, edited, deleted): the list shows it. */
  newestChanged(chatId: string, newest: Message | null): void;
  /** The viewer may no longer read this chat. */
  lost(chatId: string, error: ParleyError): void;
}

/**
 * One open chat (DESIGN.md §9): [log] "Messages" in seq order, history merged with live messages by
 * id, paging back when scrolled to the top, post / edit / delete, "Seen by", and read marks; who is
 * typing, and the other participants' presence in the header.
 */
export class ChatView {
  readonly element: HTMLElement;
  private readonly timeline = new MessageTimeline<Message>();
  private readonly subscriptions: ResumableSubscription[] = [];
  private readonly articles = new Map<string, HTMLElement>();
  /** Per other participant, the highest seq they are known to have read (a receipt, or a post of theirs). */
  private readonly readSeq = new Map<string, number>();
  private readonly log: HTMLElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly composer: HTMLTextAreaElement;
  private readonly editHint: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly title = h('h2', {});
  private readonly participants = h('p', { class: 'participants' });
  private readonly typing = typingStatus();
  private presence: PresenceMap | null = null;
  private typists: TypingIndicators | null = null;
  private participantIds: readonly string[] = [];
  private hasOlder = false;
  private loadingOlder = false;
  private markedSeq = 0;
  private editing: { message: Message; draft: string } | null = null;
  /** The own message whose receipts were last read from the server. */
  private seenByLoadedFor: Message | null = null;
  /** A post that failed keeps its clientMessageId, so sending the same text again cannot post it twice. */
  private unsent: { content: string; clientMessageId: string } | null = null;
  private closed = false;

  constructor(
    private readonly client: ParleyClient,
    private readonly me: string,
    readonly chat: Chat,
    private readonly events: ChatViewEvents,
  ) {
    this.log = h('div', { role: 'log', 'aria-label': 'Messages', class: 'messages', tabindex: 0, onscroll: () => this.onScroll() });
    this.olderButton = h('button', { type: 'button', class: 'older', hidden: true, onclick: () => void this.loadOlder() }, 'Load older messages');
    this.composer = h('textarea', {
      'aria-label': 'Message',
      rows: 2,
      placeholder: 'Write a message — Enter sends, Shift+Enter starts a new line',
      onkeydown: (event: KeyboardEvent) => this.onKey(event),
      oninput: () => this.onInput(),
    });
    this.editHint = h(
      'p',
      { class: 'edit-hint', hidden: true },
      'Editing a message: Enter saves, Escape cancels. ',
      h('button', { type: 'button', onclick: () => this.cancelEdit() }, 'Cancel edit'),
    );
    this.notice = h('p', { role: 'alert', class: 'notice' });
    this.element = h(
      'section',
      { class: 'chat-view' },
      h('header', { class: 'chat-header' }, this.title, this.participants),
      this.olderButton,
      this.log,
      this.typing.element,
      this.editHint,
      h(
        'form',
        { class: 'composer', onsubmit: (event: Event) => (event.preventDefault(), void this.submit()) },
        this.composer,
        h('button', { type: 'submit' }, 'Send'),
      ),
      this.notice,
    );
    this.showChat(chat);
  }

  /** The chat's name and participants, as the last `chatUpdated` has them. */
  showChat(chat: Chat): void {
    this.title.textContent = chat.name;
    this.participantIds = chat.participantIds;
    this.presence?.setUserIds(this.others());
    this.renderParticipants();
    this.element.setAttribute('aria-label', `Chat ${chat.name}`);
  }

  async open(): Promise<void> {
    const chatId = this.chat.id;
    this.followPresenceAndTyping();
    const { messages, head } = await this.client.request<{ messages: { messages: Message[]; hasMore: boolean }; head: string }>(MESSAGES, {
      chatId,
      limit: PAGE_SIZE,
    });
    if (this.closed) return;
    for (const message of messages.messages) this.timeline.upsert(message);
    this.hasOlder = messages.hasMore;
    const lost = (error: ParleyError) => this.events.lost(chatId, error);
    // After CURSOR_EXPIRED (the page was away longer than the server keeps history) each reloads the newest page.
    const reload = () => this.reload();
    this.subscriptions.push(
      this.client.subscribe<Message>({ query: MESSAGE_ADDED, variables: { chatId }, after: head }, { next: (message) => this.added(message), error: lost, reload }),
      this.client.subscribe<Message>({ query: MESSAGE_UPDATED, variables: { chatId }, after: head }, { next: (message) => this.updated(message), error: lost, reload }),
      this.client.subscribe<MessageDeleted>({ query: MESSAGE_DELETED, variables: { chatId }, after: head }, { next: (deleted) => this.deleted(deleted.id), error: lost, reload }),
      this.client.subscribe<MessageRead>({ query: MESSAGE_READS, variables: { chatId }, after: head }, { next: (read) => this.read(read), error: lost, reload }),
    );
    for (const message of this.timeline.messages()) this.noteReader(message.senderId, message.seq);
    this.render();
    this.scrollToBottom();
    await this.loadOlderIfNothingToScroll();
    void this.loadSeenBy();
    this.markNewestRead();
  }

  /**
   * The newest page as it stands now, merged by id: new and edited messages show, and those of its range
   * that are gone were deleted while away. Older pages load on scrolling as before.
   */
  private async reload(): Promise<void> {
    const { messages } = await this.client.request<{ messages: { messages: Message[]; hasMore: boolean } }>(MESSAGES, { chatId: this.chat.id, limit: PAGE_SIZE });
    if (this.closed) return;
    const fresh = new Set(messages.messages.map((message) => message.id));
    const from = Math.min(...messages.messages.map((message) => message.seq));
    for (const message of this.timeline.messages()) if (message.seq >= from && !fresh.has(message.id)) this.timeline.remove(message.id);
    for (const message of messages.messages) {
      this.timeline.upsert(message);
      this.noteReader(message.senderId, message.seq);
    }
    this.changed();
    void this.loadSeenBy();
    this.markNewestRead();
  }

  close(): void {
    this.closed = true;
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.presence?.close();
    this.typists?.close();
    // Leaving the chat with a draft in the box is not typing in it any more.
    this.client.stopTyping(this.chat.id);
  }

  focus(): void {
    this.composer.focus();
  }

  /** Marks the newest message read, unless it is one's own (posting already moved the mark) or already marked. */
  markNewestRead(): void {
    const newest = this.timeline.newest();
    if (this.closed || !newest || newest.senderId === this.me || newest.seq <= this.markedSeq) return;
    const before = this.markedSeq;
    this.markedSeq = newest.seq;
    this.client.request(MARK_READ, { id: newest.id }).catch(() => {
      // Offline, most likely: try again with the next message or the next connection.
      if (this.markedSeq === newest.seq) this.markedSeq = before;
    });
  }

  /**
   * Presence and typing are ephemeral (DESIGN.md §10): no cursor, so they start live rather than from
   * `head`, and the presence map reads the current state again after every reconnect.
   */
  private followPresenceAndTyping(): void {
    const presence = this.client.presence(this.others());
    presence.onChange(() => this.renderParticipants());
    this.presence = presence;
    const typists = this.client.typingIndicator(this.chat.id);
    // The server does not send one's own typing back; another tab of the same user is not "someone typing" either.
    typists.onChange((userIds) => this.typing.show(userIds.filter((userId) => userId !== this.me)));
    this.typists = typists;
  }

  private others(): string[] {
    return this.participantIds.filter((userId) => userId !== this.me);
  }

  private renderParticipants(): void {
    renderParticipants(this.participants, this.participantIds, this.me, this.presence);
  }

  private added(message: Message): void {
    const follow = this.isNearBottom();
    if (!this.timeline.upsert(message)) return;
    this.noteReader(message.senderId, message.seq);
    this.changed();
    if (follow || message.senderId === this.me) this.scrollToBottom();
    this.markNewestRead();
  }

  private updated(message: Message): void {
    if (this.timeline.upsert(message)) this.changed();
  }

  private deleted(id: string): void {
    if (this.editing?.message.id === id) this.cancelEdit();
    this.timeline.remove(id);
    this.changed();
  }

  private read(read: MessageRead): void {
    const seq = this.timeline.get(read.messageId)?.seq;
    if (seq !== undefined) this.noteReader(read.userId, seq);
    this.renderSeenBy();
  }

  private noteReader(userId: string, seq: number): void {
    if (userId !== this.me && seq > (this.readSeq.get(userId) ?? 0)) this.readSeq.set(userId, seq);
  }

  private changed(): void {
    this.render();
    this.events.newestChanged(this.chat.id, this.timeline.newest() ?? null);
  }

  private ownNewest(): Message | undefined {
    const own = this.timeline.messages().filter((message) => message.senderId === this.me);
    return own[own.length - 1];
  }

  /**
   * Read marks only move forward, so whoever read a later message has read this one too. The receipts
   * of one's newest message and of the messages after it are read once; later ones arrive live.
   */
  private async loadSeenBy(): Promise<void> {
    const mine = this.ownNewest();
    this.seenByLoadedFor = mine ?? null;
    if (!mine) return this.renderSeenBy();
    const later = this.timeline.messages().filter((message) => message.seq > mine.seq);
    const ids = [mine.id, ...later.slice(-13).map((message) => message.id)];
    const { query, variables } = messageReadsOf(ids);
    try {
      const answer = await this.client.request<Record<string, { messageId: string; userId: string }[]>>(query, variables);
      for (const receipts of Object.values(answer)) {
        for (const receipt of receipts) {
          const seq = this.timeline.get(receipt.messageId)?.seq;
          if (seq !== undefined) this.noteReader(receipt.userId, seq);
        }
      }
    } catch {
      // Live receipts still arrive; "Seen by" is only less complete until the next change.
    }
    if (!this.closed) this.renderSeenBy();
  }

  private render(): void {
    const messages = this.timeline.messages();
    messages.forEach((message, index) => {
      let article = this.articles.get(message.id);
      if (!article || article.dataset.cursor !== message.cursor) {
        const fresh = this.article(message);
        article?.replaceWith(fresh);
        article = fresh;
        this.articles.set(message.id, article);
      }
      const at = this.log.children[index] ?? null;
      if (at !== article) this.log.insertBefore(article, at);
    });
    for (const [id, article] of this.articles) {
      if (this.timeline.has(id)) continue;
      article.remove();
      this.articles.delete(id);
    }
    this.olderButton.hidden = !this.hasOlder;
    if (messages.length === 0 && !this.log.querySelector('.empty')) this.log.append(h('p', { class: 'empty' }, 'No messages yet. Say hello!'));
    if (messages.length > 0) this.log.querySelector('.empty')?.remove();
    this.renderSeenBy();
  }

  private renderSeenBy(): void {
    const mine = this.ownNewest();
    // One's newest message went back to an older one (a delete): its receipts were never read.
    if (mine && this.seenByLoadedFor && mine.seq < this.seenByLoadedFor.seq) void this.loadSeenBy();
    for (const slot of this.log.querySelectorAll<HTMLElement>('.seen-by')) {
      const readers = mine && slot.dataset.id === mine.id
        ? [...this.readSeq].filter(([userId, seq]) => userId !== this.me && seq >= mine.seq).map(([userId]) => userId).sort()
        : [];
      const text = readers.length > 0 ? `Seen by ${readers.join(', ')}` : '';
      if (slot.textContent !== text) slot.textContent = text;
      slot.hidden = text === '';
    }
  }

  private article(message: Message): HTMLElement {
    const own = message.senderId === this.me;
    return h(
      'article',
      { class: own ? 'message own' : 'message', 'data-id': message.id, 'data-cursor': message.cursor, 'data-seq': message.seq },
      h(
        'header',
        {},
        h('span', { class: 'sender' }, message.senderId),
        ' ',
        h('time', { datetime: message.createdAt, title: fullTime(message.createdAt) }, shortTime(message.createdAt)),
        message.isEdited && ' ',
        message.isEdited && h('span', { class: 'edited', title: message.editedAt ? `edited ${fullTime(message.editedAt)}` : null }, 'edited'),
        own &&
          h(
            'span',
            { class: 'actions' },
            h('button', { type: 'button', 'aria-label': 'Edit message', onclick: () => this.startEdit(message.id) }, 'Edit'),
            h('button', { type: 'button', 'aria-label': 'Delete message', onclick: () => void this.remove(message.id) }, 'Delete'),
          ),
      ),
      h('p', { class: 'content' }, message.content),
      h('p', { class: 'seen-by', 'data-id': message.id, hidden: true }),
    );
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void this.submit();
    } else if (event.key === 'Escape' && this.editing) {
      event.preventDefault();
      this.cancelEdit();
    }
  }

  /** Typing means composing a new message: an edit in the box is not announced. */
  private onInput(): void {
    if (this.editing) return;
    if (this.composer.value.trim() === '') this.client.stopTyping(this.chat.id);
    else this.client.typing(this.chat.id);
  }

  private async submit(): Promise<void> {
    const content = this.composer.value;
    if (content.trim() === '') return;
    this.say('');
    if (this.editing) return this.saveEdit(this.editing.message, content);
    const clientMessageId = this.unsent?.content === content ? this.unsent.clientMessageId : newClientMessageId();
    this.composer.value = '';
    // At once, not when the post is answered: the server also ends it on delivery, whichever comes first.
    this.client.stopTyping(this.chat.id);
    try {
      const { createMessage } = await this.client.request<{ createMessage: Message }>(CREATE_MESSAGE, {
        input: { chatId: this.chat.id, content, clientMessageId },
      });
      this.unsent = null;
      this.added(createMessage);
      this.scrollToBottom();
    } catch (error) {
      this.unsent = { content, clientMessageId };
      if (this.composer.value === '') this.composer.value = content;
      this.say(`Not sent: ${messageOf(error)}`);
    }
  }

  private startEdit(id: string): void {
    const message = this.timeline.get(id);
    if (!message) return;
    this.editing = { message, draft: this.editing ? this.editing.draft : this.composer.value };
    // The draft waits while the user edits another message: they are not composing it now.
    this.client.stopTyping(this.chat.id);
    this.composer.value = message.content;
    this.editHint.hidden = false;
    this.element.classList.add('editing');
    this.composer.focus();
    this.composer.setSelectionRange(message.content.length, message.content.length);
  }

  private cancelEdit(): void {
    if (!this.editing) return;
    this.composer.value = this.editing.draft;
    this.editing = null;
    this.editHint.hidden = true;
    this.element.classList.remove('editing');
    this.composer.focus();
  }

  private async saveEdit(message: Message, content: string): Promise<void> {
    try {
      const { updateMessage } = await this.client.request<{ updateMessage: Message }>(UPDATE_MESSAGE, { id: message.id, content });
      if (this.editing?.message.id === message.id) this.cancelEdit();
      this.updated(updateMessage);
    } catch (error) {
      this.say(`Not saved: ${messageOf(error)}`);
    }
  }

  private async remove(id: string): Promise<void> {
    try {
      const { deleteMessage } = await this.client.request<{ deleteMessage: MessageDeleted }>(DELETE_MESSAGE, { id });
      this.deleted(deleteMessage.id);
    } catch (error) {
      this.say(`Not deleted: ${messageOf(error)}`);
    }
  }

  private onScroll(): void {
    if (this.log.scrollTop < EDGE_PX) void this.loadOlder();
  }

  private async loadOlder(): Promise<void> {
    const oldest = this.timeline.oldest();
    if (!this.hasOlder || this.loadingOlder || !oldest || this.closed) return;
    this.loadingOlder = true;
    try {
      const { messages } = await this.client.request<{ messages: { messages: Message[]; hasMore: boolean } }>(MESSAGES, {
        chatId: this.chat.id,
        beforeSeq: oldest.seq,
        limit: PAGE_SIZE,
      });
      if (this.closed) return;
      // Keep what the reader was looking at in place while older messages go in above it.
      const fromBottom = this.log.scrollHeight - this.log.scrollTop;
      for (const message of messages.messages) this.timeline.upsert(message);
      this.hasOlder = messages.hasMore;
      this.render();
      this.log.scrollTop = this.log.scrollHeight - fromBottom;
    } catch (error) {
      this.say(`Older messages did not load: ${messageOf(error)}`);
    } finally {
      this.loadingOlder = false;
    }
    await this.loadOlderIfNothingToScroll();
  }

  /** A first page shorter than the window cannot be scrolled to its top: load on until it can, or until the start. */
  private async loadOlderIfNothingToScroll(): Promise<void> {
    if (this.hasOlder && this.log.scrollHeight <= this.log.clientHeight) await this.loadOlder();
  }

  private isNearBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < EDGE_PX;
  }

  private scrollToBottom(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  private say(text: string): void {
    replaceChildren(this.notice, text);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
