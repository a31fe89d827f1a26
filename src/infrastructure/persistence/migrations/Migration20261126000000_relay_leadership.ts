import { Migration } from '@mikro-orm/migrations';

/**
 * The relay leader's fencing epoch and heartbeat (docs/architecture.md, Leadership). The advisory lock
 * says who leads; this row says since when (`epoch`, raised by every new leader) and whether the leader
 * still acts (`beat`, counted up by every heartbeat), so a frozen leader that keeps its session can be
 * found and replaced. `backend_pid` is the leader's lock session; `heartbeat_at` is for people.
 */
export class Migration20261126000000_relay_leadership extends Migration {
  override up(): void {
    this.addSql(`
      create table relay_leadership (
        name text primary key,
        epoch bigint not null,
        holder text not null,
        backend_pid integer not null,
        beat bigint not null,
        heartbeat_at timestamptz not null
      )`);
  }

  override down(): void {
    this.addSql('drop table relay_leadership');
  }
}
