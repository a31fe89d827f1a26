import { DomainError } from '../domain';

/** Failures of a request rather than of a business rule; they share DomainError's codes. */
export class Unauthenticated extends Error {
  readonly code = 'UNAUTHENTICATED';
  constructor(reason: string) {
    super(reason);
    this.name = 'Unauthenticated';
  }
}

export class InvalidArgument extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly argument: string, reason: string) {
    super(`${argument} ${reason}`);
  }
}

/**
 * A dependency (PostgreSQL, Redis) is down or did not answer within its deadline (DESIGN.md §5): the
 * client should retry later. `outcomeUnknown` says that a write was sent and may have been applied:
 * only an operation that is safe to repeat (a post with a clientMessageId, an edit, a read mark) may
 * simply be sent again.
 */
export class Unavailable extends Error {
  readonly code = 'UNAVAILABLE';
  /** `reason` is shown to clients: it names what failed, never a statement or a driver's own text. */
  constructor(readonly dependency: string, readonly reason: string, readonly outcomeUnknown = false) {
    super(`${dependency} is unavailable: ${reason}${outcomeUnknown ? '; whether the change was applied is unknown' : ''}; retry later`);
    this.name = 'Unavailable';
  }
}
