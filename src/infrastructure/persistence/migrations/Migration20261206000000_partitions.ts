import { Migration } from '@mikro-orm/migrations';

/**
 * Ordering partitions (DESIGN.md §3): every chat belongs to one of `relay_settings.partitions`,
 * recorded with the chat so that it never moves, and every outbox row carries its chat's partition so
 * that each partition's relay reads only its own rows.
 *
 * - `parley_partition_of(chat)`: the partition of a chat created now, from a hash of its id and the
 *   number of partitions as it stands (the number may only grow, and then applies to new chats).
 * - `outbox.membership`: the row creates a chat or changes its participants, so it also goes on the
 *   partition's membership channel.
 * - `outbox_chat_order`: a receiver reads a chat's rows after a position (gap fill, catch-up), and
 *   the relay finds a chat's previous row, in relay order; `outbox_membership_order`: a receiver reads a
 *   partition's membership rows after a position.
 * - The single relay's checkpoint becomes every existing partition's: nothing before it is published again.
 */
export class Migration20261206000000_partitions extends Migration {
  override up(): void {
    this.addSql('create table relay_settings (id boolean primary key default true check (id), partitions integer not null check (partitions between 1 and 1024))');
    // A deployment that has chats already had 16 partitions' worth of hashing below; a new one gets its
    // number from RELAY_PARTITIONS when it first starts (see partition-count.ts).
    this.addSql('insert into relay_settings (partitions) select 16 where exists (select 1 from chats)');
    this.addSql(`
      create function parley_partition_of(chat uuid) returns integer language sql stable as $$
        select (('x' || substr(md5(chat::text), 1, 8))::bit(32)::bigint % coalesce((select partitions from relay_settings where id), 16))::integer
      $$`);
    this.addSql('alter table chats add column partition integer');
    this.addSql('update chats set partition = parley_partition_of(id)');
    this.addSql('alter table chats alter column partition set not null');
    this.addSql('alter table outbox add column partition integer not null default 0');
    this.addSql('alter table outbox add column membership boolean not null default false');
    this.addSql('update outbox o set partition = c.partition from chats c where c.id = o.chat_id');
    this.addSql(`update outbox o set membership = true from events e
                 where e.position = o.event_position and e.type in ('ChatCreated', 'ParticipantsAdded', 'ParticipantsRemoved')`);
    this.addSql('create index outbox_chat_order on outbox (chat_id, tx_id, id)');
    this.addSql('create index outbox_partition_order on outbox (partition, tx_id, id)');
    // A receiver that may have missed rows reads a partition's membership rows since it last knew it had them.
    this.addSql('create index outbox_membership_order on outbox (partition, tx_id, id) where membership');
    this.addSql(`insert into relay_checkpoints (name, tx_id, outbox_id)
                 select 'partition:' || p, c.tx_id, c.outbox_id
                 from relay_checkpoints c, generate_series(0, 15) as p where c.name = 'default'`);
  }

  override down(): void {
    this.addSql(`delete from relay_checkpoints where name like 'partition:%'`);
    this.addSql('drop index outbox_membership_order');
    this.addSql('drop index outbox_partition_order');
    this.addSql('drop index outbox_chat_order');
    this.addSql('alter table outbox drop column membership');
    this.addSql('alter table outbox drop column partition');
    this.addSql('alter table chats drop column partition');
    this.addSql('drop function parley_partition_of(uuid)');
    this.addSql('drop table relay_settings');
  }
}
