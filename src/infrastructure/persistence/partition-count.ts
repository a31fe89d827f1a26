import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * The number of ordering partitions in force (DESIGN.md §3). The database holds it, so that every
 * process hashes new chats alike whatever its own environment says: the first process to start sets it
 * from RELAY_PARTITIONS, a larger RELAY_PARTITIONS raises it (new chats then spread over more
 * partitions; existing chats keep theirs), and a smaller one is ignored, since partitions never shrink.
 */
export async function settlePartitionCount(orm: MikroORM, configured: number): Promise<{ count: number; raised: boolean }> {
  const [row] = await orm.em.fork().execute<{ partitions: number; before: number | null }[]>(
    `with before as (select partitions from relay_settings)
     insert into relay_settings (partitions) values (?)
     on conflict (id) do update set partitions = greatest(relay_settings.partitions, excluded.partitions)
     returning partitions, (select partitions from before) as before`,
    [configured],
  );
  return { count: row!.partitions, raised: row!.before !== null && row!.partitions > row!.before };
}

/** The number in force, as the last start left it. */
export async function partitionCount(orm: MikroORM): Promise<number> {
  const [row] = await orm.em.fork().execute<{ partitions: number }[]>('select partitions from relay_settings');
  return row?.partitions ?? 16;
}
