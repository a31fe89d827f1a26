import type { Logger } from '../../infrastructure/logging/logger';

/** Makes the error handler of one component: logged as a warning, tagged with the component's name. */
export type ComponentErrorLog = (component: string) => (error: unknown) => void;

export function componentErrorLog(logger: Logger): ComponentErrorLog {
  return (component) => (error) => logger.warn({ err: error, component }, `${component}: ${(error as Error)?.message ?? error}`);
}
