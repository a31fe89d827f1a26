import { encodeCursor } from '../../../application';
import type { ChatEvent } from '../../../domain';
import { BatchedReadModels, eventParts } from '../write/inline-projections';
import { literal } from '../write/pooled-client';

/** An event as the rebuild reads it from the event store; `tx_id` and `position` make its cursor. */
export interface StoredEvent {
  event_id: string;
  stream_id: string;
  version: number;
  type: ChatEvent['type'];
  data: unknown;
  occurred_at: string;
  tx_id: string;
  position: string;
}

/** The columns of a StoredEvent, for `select … from events`. */
export const STORED_EVENT_COLUMNS = 'event_id, stream_id, version, type, data, occurred_at, tx_id::text as tx_id, position::text as position';

/**
 * Events replayed into the read models with the statements the write path wrote them with, in the
 * given order (each stream's events in version order), as one SQL text.
 *
 * - Runs of posts, reads and edits take the write path's batched form (`BatchedReadModels`): one
 *   statement for the run, whatever its length and however many chats it spans. A run ends before
 *   an edit of a message the run posts or edits already, which that form cannot fold (its parts
 *   see the tables as they were before the statement), and before any other kind of event.
 * - Every other event takes its own statement (`eventParts`).
 *
 * One text, not parameterised statements: a page of events costs one round trip, and the rebuild's
 * time goes to PostgreSQL's work, not to waiting. Values are written in as string literals
 * (`literal`), which PostgreSQL coerces to each column's type as it coerces an untyped parameter;
 * they come from the event store, and are never read as anything but strings. The statements name
 * the tables without a schema, so the session's `search_path` says which tables they fill
 * (read-model-rebuild.ts points it at the shadow tables).
 */
export function replayText(events: StoredEvent[]): string {
  const statements: string[] = [];
  let run = new Run();
  for (const row of events) {
    const event = asEvent(row);
    if (!BatchedReadModels.takes(event)) {
      if (!run.empty) statements.push(run.statement());
      run = new Run();
      statements.push(eventStatement(row));
      continue;
    }
    if (!run.takes(event)) {
      statements.push(run.statement());
      run = new Run();
    }
    run.add(event, row);
  }
  if (!run.empty) statements.push(run.statement());
  return statements.join(';\n');
}

/** Consecutive posts, reads and edits that the batched form folds into one statement. */
class Run {
  private readonly models = new BatchedReadModels();
  private readonly events: { event_id: string; cursor: string }[] = [];
  private readonly written = new Set<string>();

  get empty(): boolean {
    return this.events.length === 0;
  }

  takes(event: ChatEvent): boolean {
    return event.type !== 'MessageEdited' || !this.written.has(event.data.messageId);
  }

  add(event: ChatEvent, row: StoredEvent): void {
    if (!BatchedReadModels.takes(event)) throw new Error(`${event.type} does not batch`);
    if (event.type !== 'MessageRead') this.written.add(event.data.messageId);
    this.models.add(event, row.event_id, row.version, occurredAt(row));
    this.events.push({ event_id: row.event_id, cursor: encodeCursor(row.tx_id, row.position) });
  }

  statement(): string {
    const { sql, params } = this.models.parts(2);
    const text = `with new_events as (select * from json_to_recordset($1::json) as e(event_id uuid, cursor text)),${sql}
      select 1`;
    const values = [JSON.stringify(this.events), ...params];
    return text.replace(/\$(\d+)/g, (_, n: string) => literal(values[Number(n) - 1]!));
  }
}

function asEvent(row: StoredEvent): ChatEvent {
  return { type: row.type, data: row.data } as ChatEvent;
}

function occurredAt(row: StoredEvent): string {
  return new Date(row.occurred_at).toISOString();
}

function eventStatement(row: StoredEvent): string {
  const parts = eventParts(asEvent(row), row.version, occurredAt(row));
  const sql = `with new_cursor as (select ?::text as cursor),
    ${parts.map((part, i) => `part_${i} as (${part.sql})`).join(',\n    ')}
    select 1`;
  const values = [encodeCursor(row.tx_id, row.position), ...parts.flatMap((part) => part.params)];
  let next = 0;
  const text = sql.replace(/\?/g, () => sqlValue(values[next++]));
  if (next !== values.length) throw new Error(`replaying ${row.type}: ${values.length} values for ${next} placeholders`);
  return text;
}

function sqlValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return literal(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return literal(String(value));
  throw new Error(`cannot write a ${typeof value} into a replayed statement`);
}
