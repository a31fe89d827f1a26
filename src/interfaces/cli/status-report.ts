import type { ClusterStatus } from '../composition/commands';
import { formatElapsed } from './progress';

/** `parley status` for a person: three tables, aligned, with ages rather than timestamps. */
export function statusReport(status: ClusterStatus): string {
  return [partitionsSection(status), receiversSection(status), outboxSection(status)].join('\n\n') + '\n';
}

function partitionsSection({ partitions }: ClusterStatus): string {
  const led = partitions.filter((partition) => partition.led).length;
  const rows = partitions.map((p) => [
    String(p.partition),
    p.leader === null ? '-' : p.led ? p.leader : `none (last: ${p.leader})`,
    p.epoch === null ? '-' : String(p.epoch),
    p.heartbeatAgeSeconds === null ? '-' : `${seconds(p.heartbeatAgeSeconds)} ago`,
    p.checkpoint ?? '-',
    String(p.lagRows),
    seconds(p.lagSeconds),
  ]);
  return [
    `Ordering partitions: ${partitions.length} (${led} led)`,
    table(['PARTITION', 'LEADER', 'EPOCH', 'HEARTBEAT', 'CHECKPOINT', 'LAG ROWS', 'LAG'], rows, [0, 2, 5, 6]),
  ].join('\n');
}

function receiversSection({ receivers: status }: ClusterStatus): string {
  if (!status.recorded) return `Receivers: not recorded (${status.reason})`;
  const { receivers } = status;
  const rows = receivers.map((r) => [
    r.id,
    r.port === null ? '-' : String(r.port),
    String(r.clients),
    String(r.followedChats),
    String(r.backlog),
    seconds(r.lagSeconds),
    `${seconds(Math.max(0, Date.now() - Date.parse(r.updatedAt)) / 1000)} ago`,
  ]);
  const heading = `Receivers: ${receivers.length} live (each writes its figures every ${status.heartbeatIntervalSeconds} s)`;
  if (receivers.length === 0) return heading;
  return [heading, table(['RECEIVER', 'PORT', 'CLIENTS', 'FOLLOWED CHATS', 'BACKLOG', 'LAG', 'UPDATED'], rows, [1, 2, 3, 4, 5])].join('\n');
}

function outboxSection({ outbox }: ClusterStatus): string {
  if (outbox.oldestAgeSeconds === null) return 'Outbox: 0 rows';
  return `Outbox: ${outbox.estimated ? 'about ' : ''}${outbox.rows} rows, oldest ${formatElapsed(outbox.oldestAgeSeconds * 1000)} old (${outbox.oldestAt})`;
}

/** Seconds to the millisecond below ten, whole above: a lag of 0.012 s and one of 3 min both read well. */
function seconds(value: number): string {
  return value < 10 ? `${value.toFixed(3)} s` : formatElapsed(value * 1000);
}

/** Columns padded to their widest cell; the numeric ones (by index) aligned right. */
function table(headings: string[], rows: string[][], numeric: number[]): string {
  const widths = headings.map((heading, column) => Math.max(heading.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (numeric.includes(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(headings), ...rows.map(line)].join('\n');
}
