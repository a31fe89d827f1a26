import { Migration } from '@mikro-orm/migrations';

/** Finds the chats a user was removed from, so a resumed subscription still hears of its removal. */
export class Migration20261125020000_removed_participants extends Migration {
  override up(): void {
    this.addSql(`create index events_removed_users on events using gin ((data -> 'userIds')) where type = 'ParticipantsRemoved'`);
  }

  override down(): void {
    this.addSql('drop index events_removed_users');
  }
}
