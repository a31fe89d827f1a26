import type { TypingSignal } from '../../domain';

/**
 * A user's presence as others see it (DESIGN.md §10). `version` rises with every transition of the
 * user, cluster-wide: a receiver that hears two announcements out of order keeps the newer.
 */
export interface PresenceView {
  userId: string;
  online: boolean;
  /** When the user's last socket closed (ISO-8601); null if never seen offline. */
  lastSeenAt: string | null;
}

export interface PresenceSignal extends PresenceView {
  version: number;
}

/** An ephemeral signal as it travels on a chat's channel: never stored, no cursor, at most once. */
export type EphemeralSignal = { kind: 'typing'; typing: TypingSignal } | { kind: 'presence'; presence: PresenceSignal };

/** A chat and its ordering partition: where a signal about it travels. */
export interface ChatAddress {
  chatId: string;
  partition: number;
}

/**
 * Publishes ephemeral signals on chats' channels (DESIGN.md §10): Redis sharded pub/sub across
 * instances, a local bus in one process. Nothing is written to PostgreSQL or the outbox.
 */
export abstract class EphemeralPublisher {
  /**
   * Publishes a typing signal on its chat's channel. An `isTyping: true` goes out only if none of the
   * same (chat, user) went out within `throttleMs`, cluster-wide; answers whether it went out.
   */
  abstract publishTyping(chat: ChatAddress, signal: TypingSignal, throttleMs: number): Promise<boolean>;
  /** Announces a presence transition on each of these chats' channels. */
  abstract publishPresence(chats: readonly ChatAddress[], signal: PresenceSignal): Promise<void>;
}

/** Where presence is kept (Redis with expiry, or this process's memory): read by the `presence` query. */
export abstract class PresenceDirectory {
  /** The presence of each of these users, in the order asked. */
  abstract lookup(userIds: readonly string[]): Promise<PresenceView[]>;
}

/** What a receiver's registration answers: whether it had lapsed (its users must be claimed again) and who died. */
export interface PresenceRegistration {
  /** Not registered before, or its claim had lapsed (it may have been swept): claim every user again. */
  rejoined: boolean;
  /** Receivers whose claims lapsed: their users' transitions are still to be announced. */
  lapsed: string[];
}

/**
 * The receivers' side of presence (DESIGN.md §10). Each receiver claims its users under its own id
 * and renews the claim in one call per interval, never one per connection; a claim not renewed lapses,
 * and another receiver sweeps the lapsed one's users. Transitions are decided here, atomically per
 * user, across receivers: each answers the signal to announce, or null when the user's online state
 * did not change.
 */
export abstract class PresenceStore extends PresenceDirectory {
  /** Renews this receiver's claim (the one call per interval) and names the receivers whose claims lapsed. */
  abstract register(now: number): Promise<PresenceRegistration>;
  /** The user has a socket here now. */
  abstract attach(userId: string): Promise<PresenceSignal | null>;
  /** The user's last socket here closed at `now`. */
  abstract detach(userId: string, now: number): Promise<PresenceSignal | null>;
  /** The users this receiver has claimed, as the store has them (to reconcile after a failure). */
  abstract claimed(): Promise<string[]>;
  /**
   * Takes a lapsed receiver's users off it, once across the cluster (under a lease): answers the
   * transitions to announce. Nothing when another receiver sweeps it, or it came back meanwhile.
   */
  abstract sweep(receiverId: string, now: number): Promise<PresenceSignal[]>;
  /** This receiver stops: its registration goes (its users were detached first). */
  abstract leave(): Promise<void>;
  /**
   * The user's state as last decided, with its version: announced again when a decision's answer was
   * lost or its announcement failed (subscribers drop what they have seen). Null if never decided.
   */
  abstract current(userId: string): Promise<PresenceSignal | null>;
}
