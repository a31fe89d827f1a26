import { Migration } from '@mikro-orm/migrations';

/**
 * A post to a chat of 1000 names its 999 recipients in its outbox row (about 40 KB of ids, stored
 * once). PostgreSQL's default TOAST compression, pglz, spent about 3 ms of the server's CPU per such
 * row trying to compress ids that hardly compress; lz4 takes about a tenth of that and still
 * compresses message text. Where the server has no lz4 (PGlite may not), rows are stored out of
 * line without compression instead, which costs less CPU than pglz's attempt.
 */
export class Migration20261202010000_outbox_compression extends Migration {
  override up(): void {
    this.addSql(`
      do $$ begin
        alter table outbox alter column payload set compression lz4;
      exception when others then
        alter table outbox alter column payload set storage external;
      end $$`);
  }

  override down(): void {
    this.addSql('alter table outbox alter column payload set storage extended');
    this.addSql('alter table outbox alter column payload set compression default');
  }
}
