import type { Instance } from './processes';

/** One reading of an instance's /metrics (Prometheus text), to subtract from a later one. */
export class Scrape {
  private constructor(private readonly lines: string[]) {}

  static async of(instance: Instance): Promise<Scrape> {
    const text = await (await fetch(instance.url.replace('/graphql', '/metrics'))).text();
    return new Scrape(text.split('\n'));
  }

  /** A counter's or gauge's value; `labels` as written in the exposition, e.g. `needed="yes"`. */
  value(name: string, labels?: string): number {
    const prefix = labels ? `${name}{${labels}} ` : `${name} `;
    const line = this.lines.find((l) => l.startsWith(prefix));
    return line ? Number(line.slice(prefix.length)) : 0;
  }

  histogram(name: string): Histogram {
    const buckets: [number, number][] = [];
    for (const line of this.lines) {
      const match = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`).exec(line);
      if (match) buckets.push([match[1] === '+Inf' ? Infinity : Number(match[1]), Number(match[2])]);
    }
    return { buckets, sum: this.value(`${name}_sum`), count: this.value(`${name}_count`) };
  }
}

/** Cumulative buckets, as Prometheus exposes them. */
export interface Histogram {
  buckets: [le: number, cumulative: number][];
  sum: number;
  count: number;
}

/** What was observed between two readings. */
export function since(after: Histogram, before: Histogram): Histogram {
  return {
    buckets: after.buckets.map(([le, count], i) => [le, count - (before.buckets[i]?.[1] ?? 0)]),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** The upper bound of the bucket that holds quantile `q`: "at most this" (Infinity past the last bound). */
export function bucketQuantile(histogram: Histogram, q: number): number {
  const rank = q * histogram.count;
  return histogram.buckets.find(([, cumulative]) => cumulative >= rank)?.[0] ?? Infinity;
}
