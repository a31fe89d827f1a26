import type { LoggerService } from '@nestjs/common';
import type { Logger } from '../../infrastructure/logging/logger';

/** Nest's own messages as JSON lines through the service logger. */
export function nestLogger(logger: Logger): LoggerService {
  const child = logger.child({ component: 'nest' });
  return {
    log: (message) => child.debug(String(message)),
    error: (message, trace) => child.error({ trace }, String(message)),
    warn: (message) => child.warn(String(message)),
    debug: (message) => child.debug(String(message)),
    verbose: (message) => child.trace(String(message)),
  };
}
