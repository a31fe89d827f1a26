import { Migration } from '@mikro-orm/migrations';

/**
 * Outbox retention (DESIGN.md §4, OUTBOX_RETENTION): the pruner deletes published rows older than the
 * retention, and `outbox_pruned` says, per ordering partition, the newest transaction it has deleted
 * rows of. It is written in the same statement as each deletion, so a resume that reads it knows how
 * far back it must ask whether rows it would have sent are gone (outbox-prune.ts, pruned-history.ts).
 * Events are never pruned: the event store stays the truth.
 */
export class Migration20261210000000_outbox_retention extends Migration {
  override up(): void {
    this.addSql(`
      create table outbox_pruned (
        partition integer primary key,
        tx_id xid8 not null,
        pruned_at timestamptz not null default now()
      )`);
  }

  override down(): void {
    this.addSql('drop table outbox_pruned');
  }
}
