import { Migration } from '@mikro-orm/migrations';

/**
 * The write path at database speed: a post reads and writes only what it needs.
 * - `chats.version`: the stream version a chat's next event follows, so commands are decided on the
 *   read models written in the same transactions instead of a snapshot rewritten by every post.
 * - Unread counts are computed, not kept per participant (DESIGN.md §4): `chats.last_seq` minus the
 *   member's `read_seq`, minus deleted messages above the mark (`messages_deleted_by_chat`), minus
 *   the member's own messages above it, which exist only for a member added again after leaving
 *   (`last_own_seq` tells when). So the unread-counts projection, its table and checkpoint go.
 */
export class Migration20261202000000_write_path extends Migration {
  override up(): void {
    this.addSql('alter table chats add column version integer not null default 0');
    this.addSql('update chats c set version = coalesce((select max(e.version) from events e where e.stream_id = c.id), 0)');
    this.addSql('alter table chat_participants add column last_own_seq integer not null default 0');
    this.addSql(`update chat_participants p set last_own_seq = coalesce(
      (select max(m.seq) from messages m where m.chat_id = p.chat_id and m.sender_id = p.user_id), 0)`);
    this.addSql('create index messages_deleted_by_chat on messages (chat_id, seq) where deleted_at is not null');
    this.addSql('drop table chat_snapshots');
    this.addSql('drop table unread_counts');
    this.addSql('drop table projection_checkpoints');
  }

  override down(): void {
    this.addSql('create table chat_snapshots (chat_id uuid primary key, version integer not null, state jsonb not null)');
    this.addSql(`create table projection_checkpoints (name text primary key, tx_id xid8 not null, position bigint not null,
      updated_at timestamptz not null default now())`);
    this.addSql(`create table unread_counts (chat_id uuid not null, user_id text not null, read_seq integer not null default 0,
      unread_count integer not null default 0, cursor text not null, primary key (chat_id, user_id))`);
    this.addSql('create index unread_counts_by_user on unread_counts (user_id, chat_id)');
    this.addSql('drop index messages_deleted_by_chat');
    this.addSql('alter table chat_participants drop column last_own_seq');
    this.addSql('alter table chats drop column version');
  }
}
