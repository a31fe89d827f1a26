import type { EntityManager } from '@mikro-orm/postgresql';
import type { ChatEvent } from '../../domain';

/** An event as a projection reads it from the event store. */
export interface StoredChatEvent {
  chatId: string;
  version: number;
  cursor: string;
  occurredAt: string;
  event: ChatEvent;
}

/**
 * A read model kept from the event store. `apply` runs inside the transaction that also moves the
 * projection's checkpoint, so each event takes effect exactly once however often it is delivered.
 */
export interface Projection {
  readonly name: string;
  /** `quiet`: during a rebuild, derived notifications wait for `afterRebuild`. */
  apply(em: EntityManager, events: StoredChatEvent[], options?: { quiet: boolean }): Promise<void>;
  /** Empties the read model before a rebuild from the first event, remembering what it held. */
  reset(em: EntityManager): Promise<void>;
  /** After a rebuild, in its transaction: announce what differs from before. */
  afterRebuild?(em: EntityManager): Promise<void>;
}
