import { compareCursors, isCursor } from './cursor';

/**
 * The position of a user-scoped subscription (DESIGN.md §4): one position per ordering partition.
 * Partitions are relayed independently, so a subscription that follows chats of several partitions
 * gets their events interleaved as they arrive; "already sent" and "resume after" are judged within a
 * partition, never across.
 *
 * Written as one opaque string: a base position that holds for every partition, then the partitions
 * that have moved past it, `"<base>~<partition>:<position>~…"`. A plain cursor is a vector with no
 * exceptions, so a cursor from the release before partitions (one global position) means that
 * position in every partition, and a vector that has not moved reads as a plain cursor.
 */
export class PartitionVector {
  private constructor(private base: string, private readonly moved: Map<number, string>) {}

  static at(position: string): PartitionVector {
    return new PartitionVector(position, new Map());
  }

  static decode(text: string): PartitionVector | null {
    const [base, ...rest] = text.split('~');
    if (base === undefined || !isCursor(base) || rest.length > MAX_ENTRIES) return null;
    const moved = new Map<number, string>();
    for (const entry of rest) {
      const match = ENTRY.exec(entry);
      if (!match || !isCursor(match[2]!)) return null;
      moved.set(Number(match[1]), match[2]!);
    }
    return new PartitionVector(base, moved);
  }

  /** The position in one partition. */
  at(partition: number): string {
    return this.moved.get(partition) ?? this.base;
  }

  /** The lowest position of any partition: everything a resume may need comes after it. */
  lowest(): string {
    let lowest = this.base;
    for (const position of this.moved.values()) if (compareCursors(position, lowest) < 0) lowest = position;
    return lowest;
  }

  /** Whether an event at `position` of `partition` comes after what this vector has passed. */
  isBefore(partition: number, position: string): boolean {
    return compareCursors(position, this.at(partition)) > 0;
  }

  /** Moves one partition forward, never back. */
  advance(partition: number, position: string): void {
    if (!this.isBefore(partition, position)) return;
    this.moved.set(partition, position);
  }

  encode(): string {
    if (this.moved.size === 0) return this.base;
    const entries = [...this.moved].sort(([a], [b]) => a - b).map(([partition, position]) => `~${partition}:${position}`);
    return this.base + entries.join('');
  }
}

const ENTRY = /^(\d{1,4}):(.+)$/;
/** More partitions than any deployment may have (RELAY_PARTITIONS is at most 1024). */
const MAX_ENTRIES = 1024;
