/**
 * Durations in configuration, written as a whole number and one unit: `90s`, `45m`, `36h`, `30d`, `2w`.
 * One unit keeps them unambiguous (`1m` is a minute, never a month) and easy to read in a deployment file.
 */
const DURATION = /^(\d{1,9})(s|m|h|d|w)$/;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export const DURATION_FORMAT = 'a whole number and a unit: s, m, h, d or w (e.g. 30d, 36h)';

/** Milliseconds, or null when the text is not a duration in that form. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The way a duration is written back (the largest unit that divides it), for logs and summaries. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm'] as const) if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}
