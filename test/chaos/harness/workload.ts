import { randomUUID } from 'node:crypto';
import { BAD_INPUT_MARKER } from '../oracle/event-store-truth';
import type { Api, Outcome } from './api';
import type { Prng } from './prng';

const CREATE_CHAT = 'mutation($input: CreateChatInput!) { createChat(input: $input) { id createdBy participantIds cursor } }';
const UPDATE_CHAT = 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id createdBy participantIds cursor } }';
const POST = 'mutation($chatId: ID!, $content: String!, $cmid: String) { createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $cmid }) { id chatId seq cursor } }';
const EDIT = 'mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { id content isEdited } }';
const DELETE = 'mutation($id: ID!) { deleteMessage(messageId: $id) { id chatId } }';
const READ = 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { messageId userId readAt } }';

interface ChatModel {
  id: string;
  creator: string;
  participants: Set<string>;
  /** Everyone who was ever in it (to avoid re-adding, see `avoidKnownDefects`). */
  everIn: Set<string>;
  messages: { id: string; sender: string; deleted: boolean }[];
}

/** A post the workload made: every answer it got, so the oracle can check the retried ones exist once. */
export interface PostRecord {
  clientMessageId: string;
  userId: string;
  chatId: string;
  /** Message ids of the attempts that answered. */
  answers: string[];
  /** Sent again with the same clientMessageId after a failure (transient errors) or on purpose (a repeat). */
  retried: boolean;
}

export interface BadInputRecord {
  name: string;
  expected: string[];
  observed: string;
}

export type OpKind = 'post' | 'edit' | 'delete' | 'read' | 'add' | 'remove' | 'leave' | 'createChat' | 'rename' | 'badInput';

const WEIGHTS: Record<OpKind, number> = {
  post: 40,
  read: 18,
  edit: 7,
  delete: 5,
  add: 5,
  remove: 3,
  leave: 2,
  createChat: 3,
  rename: 2,
  badInput: 5,
};

export interface WorkloadOptions {
  users: string[];
  /** A user who is never added to any chat: the subject of the "not a participant" bad inputs. */
  stranger: string;
  maxChats: number;
  tokens: Map<string, string>;
  /** The run's label, in every clientMessageId so that runs never share one. */
  runId: string;
  /**
   * Diagnostic only (CHAOS_AVOID_KNOWN_DEFECTS=1): never re-add a removed user and skip the bad inputs
   * known to fail, so that a run can show what else is wrong while those defects are being fixed.
   */
  avoidKnownDefects: boolean;
}

/**
 * The seeded random mix of DESIGN.md §5 mutations through both senders. It keeps its own (possibly
 * stale) picture of chats and messages to choose sensible operations; under concurrency some fail
 * with a domain error (the user was just removed, the message just deleted), which is recorded, not
 * judged: the oracle judges the outcome against the event store, not against this picture.
 */
export class Workload {
  readonly chats = new Map<string, ChatModel>();
  readonly posts = new Map<string, PostRecord>();
  readonly badInputs: BadInputRecord[] = [];
  /** `${round} ${op} → ${outcome}` → count: the outcomes observed, for the report. */
  readonly outcomes = new Map<string, number>();
  /** Things the workload saw that the contract rules out (e.g. a repeated post answered with another message). */
  readonly anomalies: { kind: string; detail: string }[] = [];
  round = 'setup';
  private counter = 0;
  private badInputOrder: string[] | null = null;
  private badInputTurn = 0;
  private done = 0;
  private readonly progressWaiters = new Set<{ target: number; resolve: () => void }>();

  constructor(private readonly rng: Prng, private readonly api: Api, private readonly options: WorkloadOptions) {}

  get users(): readonly string[] {
    return this.options.users;
  }

  get completed(): number {
    return this.done;
  }

  /** Runs `count` operations, `concurrency` at a time. */
  async run(count: number, concurrency: number): Promise<void> {
    let started = 0;
    const worker = async () => {
      while (started < count) {
        started++;
        await this.step();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /**
   * Runs until stopped, for the length of a fault; each worker pauses for a user's think time between
   * operations, so a long fault does not turn into a flood.
   */
  start(concurrency: number, thinkMs: [number, number]): { stop(): Promise<void> } {
    let stopped = false;
    const worker = async () => {
      while (!stopped) {
        await this.step();
        await new Promise((resolve) => setTimeout(resolve, this.rng.int(...thinkMs))); // deliberate: a user's think time
      }
    };
    const workers = Promise.all(Array.from({ length: concurrency }, worker));
    return {
      stop: async () => {
        stopped = true;
        await workers;
      },
    };
  }

  /** Resolves once `more` further operations have completed (or the timeout passes: a stalled workload is reported by the oracle). */
  progress(more: number, timeoutMs = 30_000): Promise<void> {
    const target = this.done + more;
    return new Promise((resolve) => {
      const waiter = { target, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.progressWaiters.delete(waiter);
        this.count('workload', `stalled: ${more} operations did not complete in ${timeoutMs} ms`);
        resolve();
      }, timeoutMs);
      this.progressWaiters.add(waiter);
    });
  }

  /** One chat per user to begin with, so that every operation has somewhere to happen. */
  async seedChats(): Promise<void> {
    for (const creator of this.options.users) await this.createChat(creator);
  }

  /** One more chat of `creator` (to spread chats over partitions), whatever `maxChats` says. */
  async addChat(creator: string): Promise<void> {
    await this.createChat(creator);
  }

  /** `updateChat addParticipantIds`, by a participant (the creator unless `by` is given): answers the outcome. */
  async addParticipant(chatId: string, userId: string, by?: string): Promise<Outcome> {
    const chat = this.chats.get(chatId)!;
    return this.updateChat('add', by ?? chat.creator, chat, { addParticipantIds: [userId] });
  }

  /** `updateChat removeParticipantIds` by the chat's creator. */
  async removeParticipant(chatId: string, userId: string): Promise<Outcome> {
    const chat = this.chats.get(chatId)!;
    return this.updateChat('remove', chat.creator, chat, { removeParticipantIds: [userId] });
  }

  /** A post to one chat, by `user` or by one of its participants as the workload last saw them. */
  postTo(chatId: string, user?: string): Promise<Outcome> {
    const chat = this.chats.get(chatId)!;
    return this.post(user ?? this.rng.pick([...chat.participants]), chat);
  }

  /** The chats `userId` is not in, as the workload last saw them. */
  chatsWithout(userId: string): string[] {
    return [...this.chats.values()].filter((chat) => !chat.participants.has(userId)).map((chat) => chat.id);
  }

  /** The participants of a chat as the workload last saw them. */
  participantsOf(chatId: string): string[] {
    return [...this.chats.get(chatId)!.participants];
  }

  creatorOf(chatId: string): string {
    return this.chats.get(chatId)!.creator;
  }

  /** Posts `count` messages at once through one sender (used to have requests in flight when it dies). */
  burst(count: number, sender: string): { firstAnswer: Promise<void>; all: Promise<Outcome[]> } {
    const chat = this.rng.pick([...this.chats.values()]);
    const user = chat.creator;
    let first!: () => void;
    const firstAnswer = new Promise<void>((resolve) => (first = resolve));
    const all = Promise.all(
      Array.from({ length: count }, async () => {
        const outcome = await this.post(user, chat, sender);
        first();
        return outcome;
      }),
    );
    return { firstAnswer, all };
  }

  /**
   * Posts through one sender without pause, `concurrency` at a time, until stopped: so that writes are
   * in flight on it whenever a fault strikes, and later ones queue behind them.
   */
  flood(concurrency: number, sender: string): { firstAnswer: Promise<void>; stop(): Promise<Outcome[]> } {
    let stopped = false;
    let first!: () => void;
    const firstAnswer = new Promise<void>((resolve) => (first = resolve));
    const outcomes: Outcome[] = [];
    const worker = async () => {
      while (!stopped) {
        const chat = this.rng.pick([...this.chats.values()]);
        outcomes.push(await this.post(chat.creator, chat, sender));
        first();
      }
    };
    const workers = Promise.all(Array.from({ length: concurrency }, worker));
    return {
      firstAnswer,
      stop: async () => {
        stopped = true;
        await workers;
        return outcomes;
      },
    };
  }

  private async step(): Promise<void> {
    const kind = this.rng.weighted(WEIGHTS);
    const handled = await this.attempt(kind);
    if (!handled) {
      const chat = this.pickChat();
      if (chat) await this.post(this.rng.pick([...chat.participants]), chat);
    }
    this.done++;
    for (const waiter of [...this.progressWaiters]) {
      if (this.done >= waiter.target) {
        this.progressWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** False when the picture offers nothing for that operation (then a post is made instead). */
  private async attempt(kind: OpKind): Promise<boolean> {
    const chat = this.pickChat();
    if (!chat && kind !== 'createChat') return false;
    switch (kind) {
      case 'post':
        await this.post(this.rng.pick([...chat!.participants]), chat!);
        return true;
      case 'edit': {
        const message = this.ownMessage(chat!);
        if (!message) return false;
        const content = `edited ${++this.counter} by ${message.sender}`;
        this.record('edit', await this.api.request(this.token(message.sender), EDIT, { id: message.id, content }));
        return true;
      }
      case 'delete': {
        const message = this.ownMessage(chat!);
        if (!message) return false;
        const outcome = await this.api.request(this.token(message.sender), DELETE, { id: message.id });
        if (outcome.ok) message.deleted = true;
        this.record('delete', outcome);
        return true;
      }
      case 'read': {
        const readers = [...chat!.participants];
        const reader = this.rng.pick(readers);
        const candidates = chat!.messages.slice(-12).filter((m) => m.sender !== reader);
        if (candidates.length === 0) return false;
        const message = this.rng.pick(candidates);
        this.record('read', await this.api.request(this.token(reader), READ, { id: message.id }));
        return true;
      }
      case 'add': {
        const outsiders = this.options.users.filter((u) => !chat!.participants.has(u) && !(this.options.avoidKnownDefects && chat!.everIn.has(u)));
        if (outsiders.length === 0) return false;
        const by = this.rng.pick([...chat!.participants]);
        const added = this.rng.pick(outsiders);
        await this.updateChat('add', by, chat!, { addParticipantIds: [added] });
        return true;
      }
      case 'remove': {
        const others = [...chat!.participants].filter((u) => u !== chat!.creator);
        if (others.length === 0) return false;
        await this.updateChat('remove', chat!.creator, chat!, { removeParticipantIds: [this.rng.pick(others)] });
        return true;
      }
      case 'leave': {
        const others = [...chat!.participants].filter((u) => u !== chat!.creator);
        if (others.length === 0) return false;
        const leaver = this.rng.pick(others);
        await this.updateChat('leave', leaver, chat!, { removeParticipantIds: [leaver] });
        return true;
      }
      case 'rename': {
        const by = this.rng.pick([...chat!.participants]);
        await this.updateChat('rename', by, chat!, { name: `chat ${++this.counter}` });
        return true;
      }
      case 'createChat':
        if (this.chats.size >= this.options.maxChats) return false;
        await this.createChat(this.rng.pick(this.options.users));
        return true;
      case 'badInput':
        await this.badInput(chat!);
        return true;
    }
  }

  private async createChat(creator: string): Promise<void> {
    const others = this.rng.shuffle(this.options.users.filter((u) => u !== creator)).slice(0, this.rng.int(1, 3));
    // Not safe to repeat: a second createChat would make a second chat.
    const outcome = await this.api.request(this.token(creator), CREATE_CHAT, { input: { name: `chat ${++this.counter}`, participantIds: others } }, { unsafeToRepeat: true });
    this.record('createChat', outcome);
    if (!outcome.ok) return;
    const { id, createdBy, participantIds } = outcome.data.createChat;
    this.chats.set(id, { id, creator: createdBy, participants: new Set(participantIds), everIn: new Set(participantIds), messages: [] });
  }

  private async updateChat(op: string, by: string, chat: ChatModel, change: Record<string, unknown>): Promise<Outcome> {
    const outcome = await this.api.request(this.token(by), UPDATE_CHAT, { input: { chatId: chat.id, ...change } });
    this.record(op, outcome);
    if (outcome.ok) chat.participants = new Set(outcome.data.updateChat.participantIds);
    for (const id of chat.participants) chat.everIn.add(id);
    for (const id of (change.addParticipantIds as string[] | undefined) ?? []) chat.everIn.add(id);
    return outcome;
  }

  /** A post with a clientMessageId; sometimes sent twice on purpose, as a client that lost the answer would. */
  private async post(user: string, chat: ChatModel, sender?: string): Promise<Outcome> {
    const clientMessageId = `${this.options.runId}-${++this.counter}`;
    const content = `message ${this.counter} from ${user}`;
    const record: PostRecord = { clientMessageId, userId: user, chatId: chat.id, answers: [], retried: false };
    this.posts.set(clientMessageId, record);
    const variables = { chatId: chat.id, content, cmid: clientMessageId };
    const outcome = await this.api.request(this.token(user), POST, variables, { prefer: sender });
    if (outcome.attempts > 1) record.retried = true;
    this.record(outcome.attempts > 1 ? 'post (retried after a transient failure)' : 'post', outcome);
    if (outcome.ok) {
      record.answers.push(outcome.data.createMessage.id);
      chat.messages.push({ id: outcome.data.createMessage.id, sender: user, deleted: false });
    }
    if (outcome.ok && this.rng.chance(0.12)) {
      record.retried = true;
      const again = await this.api.request(this.token(user), POST, variables);
      this.record('post (same clientMessageId again)', again);
      if (again.ok) {
        record.answers.push(again.data.createMessage.id);
        if (again.data.createMessage.id !== outcome.data.createMessage.id) {
          this.anomalies.push({ kind: 'a repeated post answered another message', detail: `${clientMessageId} answered ${again.data.createMessage.id}, the first answered ${outcome.data.createMessage.id}` });
        }
      }
    }
    return outcome;
  }

  /** Inputs the API must refuse with a clear code, changing nothing (the oracle looks for their marker in the events). */
  private async badInput(chat: ChatModel): Promise<void> {
    const marker = `${BAD_INPUT_MARKER} ${++this.counter}`;
    const creator = chat.creator;
    // A refused input is not worth 25 tries: a few show whether an internal error is lasting.
    const once = { maxAttempts: 3 };
    const foreign = chat.messages.find((m) => m.sender !== creator);
    const cases: { name: string; expected: string[]; run: () => Promise<Outcome>; known?: true }[] = [
      { name: 'post of blank content', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: '   \n ' }) },
      { name: 'post of 4001 characters', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: `${marker} ${'x'.repeat(4001)}` }) },
      { name: 'post with a NUL character', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: `${marker} \u0000 nul` }, once), known: true },
      { name: 'post with an unpaired surrogate', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: `${marker} \ud800 lone` }, once), known: true },
      { name: 'rename with a NUL character', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), UPDATE_CHAT, { input: { chatId: chat.id, name: `${marker} \u0000` } }, once), known: true },
      { name: 'add a participant id with a NUL character', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), UPDATE_CHAT, { input: { chatId: chat.id, addParticipantIds: [`${marker}\u0000`] } }, once), known: true },
      { name: 'clientMessageId with a NUL character', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: marker, cmid: `${marker}\u0000` }, once), known: true },
      { name: 'post with a 129-character clientMessageId', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: chat.id, content: marker, cmid: 'c'.repeat(129) }) },
      { name: 'post by a non-participant', expected: ['FORBIDDEN'], run: () => this.api.request(this.token(this.options.stranger), POST, { chatId: chat.id, content: marker }) },
      { name: 'post to a chat that does not exist', expected: ['NOT_FOUND'], run: () => this.api.request(this.token(creator), POST, { chatId: randomUUID(), content: marker }) },
      { name: 'post to a malformed chat id', expected: ['NOT_FOUND', 'BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), POST, { chatId: 'not-a-chat', content: marker }) },
      { name: 'the creator removes themself', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), UPDATE_CHAT, { input: { chatId: chat.id, removeParticipantIds: [creator] } }) },
      { name: 'rename to 201 characters', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), UPDATE_CHAT, { input: { chatId: chat.id, name: `${marker}${'n'.repeat(201)}` } }) },
      { name: 'createChat with an empty name', expected: ['BAD_USER_INPUT'], run: () => this.api.request(this.token(creator), CREATE_CHAT, { input: { name: ' ', participantIds: [] } }) },
      { name: 'mark read a message that does not exist', expected: ['NOT_FOUND'], run: () => this.api.request(this.token(creator), READ, { id: randomUUID() }) },
      { name: 'mutation without a token', expected: ['UNAUTHENTICATED'], run: () => this.api.request(null, POST, { chatId: chat.id, content: marker }) },
      { name: 'mutation with a forged token', expected: ['UNAUTHENTICATED'], run: () => this.api.request(forged(this.token(creator)), POST, { chatId: chat.id, content: marker }) },
    ];
    if (foreign) {
      cases.push({ name: "edit of someone else's message", expected: ['FORBIDDEN'], run: () => this.api.request(this.token(creator), EDIT, { id: foreign.id, content: marker }) });
    }
    // Round-robin over a seeded order, so that a run tries every kind of bad input.
    this.badInputOrder ??= this.rng.shuffle(cases.filter((c) => !(this.options.avoidKnownDefects && c.known)).map((c) => c.name));
    const name = this.badInputOrder[this.badInputTurn++ % this.badInputOrder.length]!;
    const chosen = cases.find((c) => c.name === name) ?? cases.find((c) => c.name === 'post of blank content')!;
    const outcome = await chosen.run();
    const observed = outcome.ok ? 'accepted' : outcome.code.startsWith('GAVE_UP') ? `${outcome.transient.at(-1)} ×${outcome.attempts}` : outcome.code;
    this.badInputs.push({ name: chosen.name, expected: chosen.expected, observed });
    this.count('bad input', `${chosen.name} → ${observed}`);
    if (!chosen.expected.includes(observed)) {
      this.anomalies.push({ kind: `bad input "${chosen.name}" not refused with ${chosen.expected.join(' or ')}`, detail: `answered ${observed}` });
    }
  }

  private pickChat(): ChatModel | undefined {
    const chats = [...this.chats.values()];
    return chats.length ? this.rng.pick(chats) : undefined;
  }

  private ownMessage(chat: ChatModel) {
    const alive = chat.messages.filter((m) => !m.deleted && chat.participants.has(m.sender));
    return alive.length ? this.rng.pick(alive.slice(-10)) : undefined;
  }

  private token(userId: string): string {
    return this.options.tokens.get(userId)!;
  }

  private record(op: string, outcome: Outcome): void {
    const result = outcome.ok ? 'ok' : outcome.code.startsWith('GAVE_UP') ? 'gave up' : outcome.code;
    this.count(op, result);
    if (!outcome.ok && outcome.code.startsWith('GAVE_UP')) this.anomalies.push({ kind: `${op} gave up after ${outcome.attempts} tries`, detail: outcome.code });
    for (const reason of new Set(outcome.transient)) this.count(op, `transient ${reason}`);
    // May have been applied by an attempt whose answer was lost: the retry with the same input settled it (the oracle checks posts).
    if (outcome.unknown) this.count(op, `outcome unknown at an attempt, ${outcome.ok ? 'settled by a retry' : 'not settled'}`);
  }

  noteOutcome(op: string, result: string): void {
    this.count(op, result);
  }

  private count(op: string, result: string): void {
    const key = `${this.round} | ${op} → ${result}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
  }
}

/** The same claims, signed with another key: must be refused as UNAUTHENTICATED. */
function forged(token: string): string {
  const [header, payload] = token.split('.');
  return `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
}
