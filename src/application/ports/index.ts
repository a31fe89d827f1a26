export * from './access-token-verifier.port';
export * from './chat-read-model.port';
export * from './chat-unit-of-work.port';
export * from './clock.port';
export * from './id-generator.port';
export * from './event-history.port';
export * from './event-transport.port';
export * from './presence.port';
