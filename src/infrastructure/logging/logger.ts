import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerSettings {
  logLevel: string;
  /** JSON lines for machines (the default), or readable lines for a person at a terminal. */
  logFormat?: LogFormat;
}

/**
 * Logs on stdout (DESIGN.md §6): JSON lines, or with `pretty` the same records as pino-pretty draws them.
 *
 * pino-pretty runs here as a synchronous stream in the main thread, not as a pino transport: a transport
 * formats in a worker thread, and what it still holds is lost when the process exits through
 * `process.exit` or a crash (exactly when the last lines matter) unless every exit path waits for it to
 * flush. Written synchronously, a line is on the terminal before the call returns. Formatting on the main
 * thread costs CPU, which a terminal's rate of lines does not notice; machines get JSON, unformatted.
 */
export function createLogger(settings: LoggerSettings, bindings: Record<string, unknown> = {}): Logger {
  const options: LoggerOptions = { level: settings.logLevel, base: { service: 'parley', pid: process.pid, ...bindings } };
  if (settings.logFormat !== 'pretty') return pino(options);
  // Loaded only for a terminal: machines never pay for it.
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pino(
    options,
    pretty({
      sync: true,
      destination: 1,
      translateTime: 'SYS:HH:MM:ss.l',
      // The same on every line of one process; a person knows which process a terminal runs.
      ignore: 'service,pid,hostname,roles',
    }),
  );
}
