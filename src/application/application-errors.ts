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
