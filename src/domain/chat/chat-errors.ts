/**
 * Named business-rule violations. Each carries a stable `code` that the GraphQL edge maps to
 * `extensions.code`; tests assert the class or the code, never the message text.
 */
export type DomainErrorCode = 'NOT_FOUND' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'CONFLICT';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class ChatNotFound extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(readonly chatId: string) {
    super(`chat ${chatId} does not exist`);
  }
}

export class ChatAlreadyExists extends DomainError {
  readonly code = 'CONFLICT';
  constructor(readonly chatId: string) {
    super(`chat ${chatId} already exists`);
  }
}

export class NotAParticipant extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(readonly chatId: string, readonly userId: string) {
    super(`you are not a participant of chat ${chatId}`);
  }
}

export class OnlyCreatorRemovesOthers extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(readonly chatId: string) {
    super('only the creator of the chat may remove other participants');
  }
}

export class CreatorMustStay extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly chatId: string) {
    super('the creator of a chat is always a participant and cannot be removed');
  }
}

export class MessageNotFound extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(readonly messageId: string) {
    super(`message ${messageId} does not exist`);
  }
}

export class NotTheSender extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(readonly messageId: string) {
    super('only the sender of a message may edit or delete it');
  }
}

export class MessageAlreadyDeleted extends DomainError {
  readonly code = 'CONFLICT';
  constructor(readonly messageId: string) {
    super(`message ${messageId} was deleted and cannot be edited`);
  }
}

export class InvalidContent extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly length: number, readonly max: number) {
    super(`message content must be 1..${max} characters after trimming (got ${length})`);
  }
}

export class ContentTooLarge extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly bytes: number, readonly max: number) {
    super(`message content must be at most ${max} bytes of UTF-8 after trimming (got ${bytes})`);
  }
}

/** Text PostgreSQL cannot store: a NUL character or an unpaired UTF-16 surrogate (DESIGN.md §5). */
export class UnstorableText extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly field: string) {
    super(`${field} must not contain NUL characters or unpaired surrogates`);
  }
}

export class InvalidChatName extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly length: number, readonly max: number) {
    super(`chat name must be 1..${max} characters after trimming (got ${length})`);
  }
}

export class ChatNameTooLarge extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly bytes: number, readonly max: number) {
    super(`chat name must be at most ${max} bytes of UTF-8 after trimming (got ${bytes})`);
  }
}

export class TooManyParticipants extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly count: number, readonly max: number) {
    super(`a chat has at most ${max} participants (would have ${count})`);
  }
}

/** `problem` says which rule, e.g. "must be at most 512 bytes of UTF-8 (got 12001)". */
export class InvalidUserId extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly problem: string) {
    super(`participant ids ${problem}`);
  }
}

export class InvalidClientMessageId extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly problem: string) {
    super(`clientMessageId ${problem}`);
  }
}

export class NothingToUpdate extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor() {
    super('updateChat needs at least one of name, addParticipantIds, removeParticipantIds');
  }
}
