import { PresenceStore, type PresenceRegistration, type PresenceSignal, type PresenceView } from '../../application';

/**
 * Presence when every role runs in one process (no Redis): one receiver, nobody to sweep, kept in this
 * process's memory, so `lastSeenAt` lasts as long as the process does.
 */
export class InProcessPresenceStore extends PresenceStore {
  private readonly online = new Set<string>();
  private readonly records = new Map<string, { version: number; lastSeenAt: string | null }>();

  async register(): Promise<PresenceRegistration> {
    return { rejoined: false, lapsed: [] };
  }

  async attach(userId: string): Promise<PresenceSignal | null> {
    if (this.online.has(userId)) return null;
    this.online.add(userId);
    return this.transition(userId, true, this.records.get(userId)?.lastSeenAt ?? null);
  }

  async detach(userId: string, now: number): Promise<PresenceSignal | null> {
    if (!this.online.delete(userId)) return null;
    return this.transition(userId, false, new Date(now).toISOString());
  }

  async claimed(): Promise<string[]> {
    return [...this.online];
  }

  async sweep(): Promise<PresenceSignal[]> {
    return [];
  }

  async leave(): Promise<void> {}

  async current(userId: string): Promise<PresenceSignal | null> {
    const record = this.records.get(userId);
    return record ? { userId, online: this.online.has(userId), lastSeenAt: record.lastSeenAt, version: record.version } : null;
  }

  async lookup(userIds: readonly string[]): Promise<PresenceView[]> {
    return userIds.map((userId) => ({ userId, online: this.online.has(userId), lastSeenAt: this.records.get(userId)?.lastSeenAt ?? null }));
  }

  private transition(userId: string, online: boolean, lastSeenAt: string | null): PresenceSignal {
    // As in Redis: above the last one, and never below the clock in ms.
    const version = Math.max((this.records.get(userId)?.version ?? 0) + 1, Date.now());
    this.records.set(userId, { version, lastSeenAt });
    return { userId, online, lastSeenAt, version };
  }
}
