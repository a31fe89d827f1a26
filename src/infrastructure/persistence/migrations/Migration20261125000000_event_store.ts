import { Migration } from '@mikro-orm/migrations';

/**
 * The event store, the outbox and the read models that the write path keeps in the same transaction.
 * SQL that both PostgreSQL 15 (servers) and PGlite (PostgreSQL 18, embedded) accept.
 */
export class Migration20261125000000_event_store extends Migration {
  override up(): void {
    // tx_id is the writing transaction: readers take only rows whose transaction is below their
    // snapshot's xmin, ordered by (tx_id, position), so a late-committing writer is never passed over.
    this.addSql(`
      create table events (
        position bigserial primary key,
        tx_id xid8 not null default pg_current_xact_id(),
        event_id uuid not null unique,
        stream_id uuid not null,
        version integer not null,
        type text not null,
        data jsonb not null,
        occurred_at timestamptz not null,
        constraint events_stream_version_unique unique (stream_id, version)
      )`);
    this.addSql('create index events_commit_order on events (tx_id, position)');

    this.addSql(`
      create table outbox (
        id bigserial primary key,
        tx_id xid8 not null default pg_current_xact_id(),
        event_position bigint references events (position),
        channel text,
        payload jsonb,
        created_at timestamptz not null default now()
      )`);
    this.addSql('create index outbox_commit_order on outbox (tx_id, id)');

    // Kept current in every append transaction; the stream stays the source of truth (see loadChat).
    this.addSql(`
      create table chat_snapshots (
        chat_id uuid primary key,
        version integer not null,
        state jsonb not null
      )`);

    this.addSql(`
      create table chats (
        id uuid primary key,
        name text not null,
        created_by text not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        last_seq integer not null default 0,
        last_message_id uuid,
        cursor text not null
      )`);

    this.addSql(`
      create table chat_participants (
        chat_id uuid not null references chats (id),
        user_id text not null,
        joined_at timestamptz not null,
        read_seq integer not null default 0,
        read_message_id uuid,
        read_at timestamptz,
        read_cursor text,
        primary key (chat_id, user_id)
      )`);
    this.addSql('create index chat_participants_by_user on chat_participants (user_id, chat_id)');

    this.addSql(`
      create table messages (
        id uuid primary key,
        chat_id uuid not null references chats (id),
        seq integer not null,
        sender_id text not null,
        content text not null,
        client_message_id text,
        created_at timestamptz not null,
        edited_at timestamptz,
        deleted_at timestamptz,
        cursor text not null,
        constraint messages_chat_seq_unique unique (chat_id, seq)
      )`);
    this.addSql(`
      create unique index messages_client_message_id_unique
        on messages (chat_id, sender_id, client_message_id) where client_message_id is not null`);

    this.addSql(`
      create table message_reads (
        message_id uuid not null references messages (id),
        user_id text not null,
        chat_id uuid not null,
        seq integer not null,
        read_at timestamptz not null,
        cursor text not null,
        primary key (message_id, user_id)
      )`);
  }

  override down(): void {
    this.addSql('drop table message_reads, messages, chat_participants, chats, chat_snapshots, outbox, events');
  }
}
