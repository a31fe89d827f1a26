import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (DESIGN.md §6). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'parley', pid: process.pid, ...bindings } });
}
