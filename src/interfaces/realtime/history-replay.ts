import type { ChannelMessage, EventHistory, PartitionVector, ResumeScope } from '../../application';
import type { ClientConnection } from './client-connection';
import type { ClientError, Subscription } from './subscription';
import type { SubscriptionRouter } from './subscription-router';

/**
 * Rows the resume would have sent were pruned by the outbox's retention (DESIGN.md §4): the client
 * reloads its state with queries and subscribes from `head`.
 */
export const CURSOR_EXPIRED: ClientError = {
  message: 'the outbox no longer holds everything after this cursor (OUTBOX_RETENTION): reload with queries and subscribe from head',
  extensions: { code: 'CURSOR_EXPIRED' },
};

/**
 * The first half of a resume with `after` (DESIGN.md §4 "Resume without gaps"): what the subscriber
 * missed, from the event store, in cursor order, in pages bounded in rows and bytes, and no faster
 * than its client reads. Live messages wait in the subscription's `pending` meanwhile.
 */
export class HistoryReplay {
  constructor(private readonly history: EventHistory, private readonly router: SubscriptionRouter) {}

  /**
   * `after` is one position per partition; a chat-scoped subscription reads its chat's partition's
   * (`partition`), a user-scoped one reads from the lowest and leaves to the subscription what each
   * partition has passed.
   */
  async replay(connection: ClientConnection, subscription: Subscription, target: string, after: PartitionVector, partition: number | null): Promise<void> {
    const { field } = subscription;
    if (field.channel === 'unreadCountUpdated') return this.currentCounts(subscription, target);
    const scope: ResumeScope = {
      viewerId: subscription.viewerId,
      channel: field.channel,
      after,
      chat: field.scope === 'chat' ? { chatId: target, partition: partition ?? 0 } : undefined,
    };
    const before = await this.history.missedByPruning(scope);
    if (before.missed) return this.router.end(subscription, [CURSOR_EXPIRED]);
    await this.sendHistory(connection, subscription, target, after, partition);
    // Pruned while the history went out? Then rows it had not read yet may be gone: checked again, at
    // no cost unless the pruner moved meanwhile.
    if (!subscription.active) return;
    const afterwards = await this.history.missedByPruning(scope, before.mark);
    if (afterwards.missed) this.router.end(subscription, [CURSOR_EXPIRED]);
  }

  private async sendHistory(connection: ClientConnection, subscription: Subscription, target: string, after: PartitionVector, partition: number | null): Promise<void> {
    const { field } = subscription;
    const from = field.scope === 'chat' ? after.at(partition ?? 0) : after.lowest();
    const visible = field.scope === 'chat'
      ? new MembershipStretches(subscription.viewerId, await this.history.wasParticipantAt(target, subscription.viewerId, from))
      : null;
    let cursor = from;
    for (;;) {
      if (!connection.isOpen || !subscription.active) return;
      const page = field.scope === 'chat' ? await this.history.inChat(target, cursor) : await this.history.forUser(target, cursor);
      for (const record of page.records) {
        for (const message of record.messages) {
          if (visible ? !visible.follow(message) : !message.meta.userIds?.includes(target)) continue;
          if (message.channel !== field.channel) continue;
          await this.router.sendTo(subscription, message);
          if (!subscription.active) return;
        }
        cursor = record.cursor;
        // A record skipped above (posted while the viewer was out) must not go out later from `pending`.
        subscription.passedThrough(cursor, record.partition);
      }
      connection.checkPending(subscription);
      if (!page.more) return;
    }
  }

  /** A derived subscription may send the current value of each count instead of every step (DESIGN.md §4). */
  private async currentCounts(subscription: Subscription, userId: string): Promise<void> {
    for (const message of await this.history.currentUnreadCounts(userId)) {
      await this.router.sendTo(subscription, message);
      if (!subscription.active) return;
    }
  }
}

/**
 * A chat's history as its viewer may see it now: the stretches during which they were a participant,
 * skipping those when they were not (removed and later re-added, or not yet added) instead of failing.
 * Membership changes travel in the chat's own records: a removal names the viewer in
 * `removedUserIds`, an addition (or the chat's creation) sends them `chatAdded`.
 */
class MembershipStretches {
  constructor(private readonly viewerId: string, private member: boolean) {}

  /** True when the viewer is a participant once this message's event has happened. */
  follow(message: ChannelMessage): boolean {
    if (message.meta.removedUserIds?.includes(this.viewerId)) this.member = false;
    else if (message.channel === 'chatAdded' && message.meta.userIds?.includes(this.viewerId)) this.member = true;
    return this.member;
  }
}
