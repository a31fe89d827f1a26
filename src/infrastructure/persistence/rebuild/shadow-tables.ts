import type { Client } from 'pg';

/**
 * The read models a rebuild replaces, in the order their foreign keys need (a table after those it
 * references). These are the tables the write path keeps in the command's own transaction
 * (inline-projections.ts).
 */
export const READ_MODEL_TABLES = ['chats', 'chat_participants', 'messages', 'message_reads'] as const;

/** Where a rebuild builds its tables, beside the live ones; a schema of Parley's own. */
export const SHADOW_SCHEMA = 'parley_rebuild';

/**
 * How long the swap waits for the live tables' locks (readers in the middle of a query on them hold
 * one) before it lets go of the append lock and tries again: writes wait behind the swap meanwhile.
 */
const SWAP_LOCK_WAIT = '500ms';

/** Where the replaced tables wait, after the swap, to be dropped outside the append lock. */
const RETIRED_SCHEMA = 'parley_retired';

interface TableShape {
  table: string;
  /** `alter table … add constraint` clauses; foreign keys name the tables they reference without a schema. */
  constraints: { name: string; definition: string; foreign: boolean }[];
  /** `create index` statements of indexes that back no constraint, still naming the live table. */
  indexes: string[];
}

/**
 * Empty copies of the live read-model tables in SHADOW_SCHEMA: the same columns, defaults, storage,
 * constraints and indexes, under the same names. The names matter: once swapped in, the tables are
 * the live ones, and whatever names a constraint or an index (an `on conflict`, a failure mapped by
 * constraint name, the next migration) finds it. The definitions are read from the catalog, not
 * repeated here, so a migration that adds a column or an index is rebuilt with it.
 *
 * Leftovers of a rebuild that stopped half-way (a crash, a lost connection) are dropped first.
 * `liveSchema` is the live tables' schema as an identifier (`quote_ident(current_schema())`), as
 * `pg_get_indexdef` prints it.
 */
export async function createShadowTables(client: Client, liveSchema: string): Promise<void> {
  await dropRebuildSchemas(client);
  const shapes: TableShape[] = [];
  for (const table of READ_MODEL_TABLES) shapes.push(await tableShape(client, liveSchema, table));
  const statements = [`create schema ${SHADOW_SCHEMA}`];
  for (const { table } of shapes) {
    statements.push(
      `create table ${SHADOW_SCHEMA}.${table} (like ${liveSchema}.${table}
         including defaults including generated including identity including storage including compression)`,
    );
  }
  // Keys before the foreign keys that reference them. Unqualified references resolve to the shadow
  // tables through the search path set here, for this transaction only.
  statements.push(`set local search_path = ${SHADOW_SCHEMA}, ${liveSchema}`);
  for (const foreign of [false, true]) {
    for (const shape of shapes) {
      for (const c of shape.constraints.filter((c) => c.foreign === foreign)) {
        statements.push(`alter table ${SHADOW_SCHEMA}.${shape.table} add constraint ${c.name} ${c.definition}`);
      }
    }
  }
  for (const shape of shapes) statements.push(...shape.indexes.map((index) => onShadowTable(index, liveSchema, shape.table)));
  await client.query(`begin; ${statements.join(';\n')}; commit`);
}

/**
 * The swap, inside the caller's transaction (which holds the append lock): the live tables move out
 * to RETIRED_SCHEMA and the shadow tables take their place, each with its indexes, constraints and row
 * type. Statements prepared against the old tables are planned again on their next use (PostgreSQL
 * invalidates them), and resolve the same names to the new tables.
 */
export function swapStatements(liveSchema: string): string[] {
  return [
    // All four at once, within the bound: lock_timeout would allow its wait once per table.
    `set local statement_timeout = '${SWAP_LOCK_WAIT}'`,
    `lock table ${READ_MODEL_TABLES.map((table) => `${liveSchema}.${table}`).join(', ')} in access exclusive mode`,
    `set local statement_timeout = 0`,
    `create schema ${RETIRED_SCHEMA}`,
    ...READ_MODEL_TABLES.map((table) => `alter table ${liveSchema}.${table} set schema ${RETIRED_SCHEMA}`),
    ...READ_MODEL_TABLES.map((table) => `alter table ${SHADOW_SCHEMA}.${table} set schema ${liveSchema}`),
    `drop schema ${SHADOW_SCHEMA}`,
  ];
}

/**
 * A chat's partition never moves (DESIGN.md §3). The replay takes it from the chat's outbox rows, or,
 * where there are none, from the hash and the number of partitions now, which differs from the one the
 * chat was created under if that number has grown since. For such chats the live row still knows it:
 * the shadow row takes it from there. Run once the build has replayed every chat created before it
 * began (a chat created after that has its outbox rows).
 */
export async function keepRecordedPartitions(client: Client, liveSchema: string): Promise<void> {
  await client.query(
    `update ${SHADOW_SCHEMA}.chats s set partition = l.partition
     from ${liveSchema}.chats l
     where l.id = s.id and l.partition <> s.partition
       and not exists (select 1 from ${liveSchema}.outbox o where o.chat_id = s.id)`,
  );
}

/** Planner statistics for the new tables before they go live, so that queries plan well on them from the start. */
export async function analyzeShadowTables(client: Client): Promise<void> {
  await client.query(`analyze ${READ_MODEL_TABLES.map((table) => `${SHADOW_SCHEMA}.${table}`).join(', ')}`);
}

/**
 * SQL answering one row, `shape`: a digest of the live read-model tables' columns, constraints and
 * indexes. Read when the shadow tables are made and again under the append lock at the swap: a
 * migration run meanwhile (it does not wait for a rebuild) would otherwise be undone by the swap, the
 * tables taking the shape they had when the rebuild began. Names are printed under a search path of
 * the catalog only, so that both readings print them alike whatever the session's path; the path is
 * set back to the shadow tables' afterwards (both are `set local`: for the transaction only).
 */
export function liveShapeQuery(liveSchema: string): string {
  const tables = READ_MODEL_TABLES.map((table) => `'${liveSchema}.${table}'::regclass`).join(', ');
  return `set local search_path = pg_catalog;
    select md5(coalesce(string_agg(item, '|' order by item), '')) as shape from (
      select c.oid::regclass::text || ' column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
             || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') as item
      from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
      where c.oid in (${tables})
      union all
      select conrelid::regclass::text || ' constraint ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint where conrelid in (${tables})
      union all
      select indrelid::regclass::text || ' index ' || pg_get_indexdef(indexrelid) from pg_index where indrelid in (${tables})) items;
    set local search_path = ${SHADOW_SCHEMA}, ${liveSchema}`;
}

/** The replaced tables (after a swap) or a half-built rebuild (after a failure); nothing live. */
export async function dropRebuildSchemas(client: Client): Promise<void> {
  await client.query(`drop schema if exists ${RETIRED_SCHEMA} cascade; drop schema if exists ${SHADOW_SCHEMA} cascade`);
}

async function tableShape(client: Client, schema: string, table: string): Promise<TableShape> {
  const relation = `${schema}.${table}`;
  const constraints = await client.query<{ name: string; definition: string; foreign: boolean }>(
    // 'n' (not null, listed here from PostgreSQL 18 on) is copied by LIKE with the columns.
    `select quote_ident(conname) as name, pg_get_constraintdef(oid) as definition, contype = 'f' as foreign
     from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u', 'c', 'x', 'f')
     order by contype <> 'p', conname`,
    [relation],
  );
  const indexes = await client.query<{ definition: string }>(
    `select pg_get_indexdef(i.indexrelid) as definition from pg_index i
     where i.indrelid = $1::regclass
       and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid and c.contype in ('p', 'u', 'x'))
     order by i.indexrelid`,
    [relation],
  );
  return { table, constraints: constraints.rows, indexes: indexes.rows.map((row) => row.definition) };
}

/** `pg_get_indexdef` names the table with its schema: the same index, on the shadow table. */
function onShadowTable(definition: string, liveSchema: string, table: string): string {
  const live = ` ON ${liveSchema}.${table} `;
  if (!definition.includes(live)) throw new Error(`cannot copy index "${definition}": it does not name ${live.trim()}`);
  return definition.replace(live, ` ON ${SHADOW_SCHEMA}.${table} `);
}
