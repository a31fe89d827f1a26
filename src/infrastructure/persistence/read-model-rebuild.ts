import type { MikroORM } from '@mikro-orm/postgresql';
import { encodeCursor } from '../../application';
import type { ChatEvent } from '../../domain';
import { eventParts } from './write/inline-projections';
import { PooledClients } from './write/pooled-client';
import { numbered } from './write/stream-append';
import { TAKE_APPEND_LOCK } from './commit-order';

const PAGE = 1000;

interface StoredEvent {
  stream_id: string;
  version: number;
  type: ChatEvent['type'];
  data: unknown;
  occurred_at: string;
  tx_id: string;
  position: string;
}

/**
 * `parley projections rebuild read-models`: the read models the write transactions keep (chats,
 * participants and their read marks, messages, receipts), which commands are decided on and unread
 * counts are computed from, derived again from the event store with the very statements that wrote
 * them, in one transaction. It holds the append lock that every write batch takes, so writes wait
 * while it runs and carry on after it (it appends nothing itself); readers see the old rows until it
 * commits, and delivery of what was committed goes on. Answers the events replayed; `onProgress`
 * hears the events replayed so far after each page, of how many there are.
 */
export async function rebuildReadModels(orm: MikroORM, onProgress?: (done: number, total: number) => void): Promise<number> {
  return new PooledClients(orm).with(async (client) => {
    await client.query(`begin; ${TAKE_APPEND_LOCK}`);
    try {
      await client.query('delete from message_reads; delete from messages; delete from chat_participants; delete from chats');
      let after = { stream: '00000000-0000-0000-0000-000000000000', version: 0 };
      let total = 0;
      const events = onProgress ? Number((await client.query<{ n: string }>('select count(*)::text as n from events')).rows[0]!.n) : 0;
      onProgress?.(0, events);
      for (;;) {
        const { rows } = await client.query<StoredEvent>(
          `select stream_id, version, type, data, occurred_at, tx_id::text as tx_id, position::text as position from events
           where (stream_id, version) > ($1::uuid, $2::int) order by stream_id, version limit ${PAGE}`,
          [after.stream, after.version],
        );
        for (const row of rows) await replay(client, row);
        total += rows.length;
        onProgress?.(total, Math.max(events, total));
        if (rows.length < PAGE) break;
        const last = rows[rows.length - 1]!;
        after = { stream: last.stream_id, version: last.version };
      }
      await client.query('commit');
      return total;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
  });
}

async function replay(client: import('pg').Client, row: StoredEvent): Promise<void> {
  const event = { type: row.type, data: row.data } as ChatEvent;
  const parts = eventParts(event, row.version, new Date(row.occurred_at).toISOString());
  const sql = `with new_cursor as (select ?::text as cursor),
    ${parts.map((part, i) => `part_${i} as (${part.sql})`).join(',\n    ')}
    select 1`;
  await client.query(numbered(sql), [encodeCursor(row.tx_id, row.position), ...parts.flatMap((part) => part.params)]);
}
