import { Migration } from '@mikro-orm/migrations';

/** A resume asks whether the viewer was a participant at its cursor: the chat's membership events, newest first. */
export class Migration20261201000000_membership_events extends Migration {
  override up(): void {
    this.addSql(
      `create index events_membership on events (stream_id, tx_id, position)
       where type in ('ChatCreated', 'ParticipantsAdded', 'ParticipantsRemoved')`,
    );
  }

  override down(): void {
    this.addSql('drop index events_membership');
  }
}
