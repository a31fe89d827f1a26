import { Migration } from '@mikro-orm/migrations';

/** What the relay, the projections and resuming subscribers need (DESIGN.md §3–§4). */
export class Migration20261125010000_realtime extends Migration {
  override up(): void {
    // Outbox rows keep the channel messages computed at write time (participants as they were then),
    // so relaying, replaying and resuming all publish exactly what happened.
    this.addSql('alter table outbox add column chat_id uuid');
    this.addSql('create index outbox_by_chat on outbox (chat_id, tx_id, event_position)');

    // Versions let a projection count "as of" an event even when it runs behind the writers.
    this.addSql('alter table messages add column version integer');
    this.addSql('alter table messages add column deleted_version integer');

    this.addSql(`
      create table relay_checkpoints (
        name text primary key,
        tx_id xid8 not null,
        outbox_id bigint not null,
        updated_at timestamptz not null default now()
      )`);

    this.addSql(`
      create table projection_checkpoints (
        name text primary key,
        tx_id xid8 not null,
        position bigint not null,
        updated_at timestamptz not null default now()
      )`);

    this.addSql(`
      create table unread_counts (
        chat_id uuid not null,
        user_id text not null,
        read_seq integer not null default 0,
        unread_count integer not null default 0,
        cursor text not null,
        primary key (chat_id, user_id)
      )`);
    this.addSql('create index unread_counts_by_user on unread_counts (user_id, chat_id)');
  }

  override down(): void {
    this.addSql('drop table unread_counts, projection_checkpoints, relay_checkpoints');
    this.addSql('alter table messages drop column deleted_version, drop column version');
    this.addSql('drop index outbox_by_chat');
    this.addSql('alter table outbox drop column chat_id');
  }
}
