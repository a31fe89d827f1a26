export * from './chat-events';
export * from './chat-commands';
export * from './chat-errors';
export * from './chat-limits';
export * from './chat-state';
export { charCount, isStorableText, utf8ByteLength } from './text';
export { decide, type DecisionState } from './decide';
export { decisionNeeds, type DecisionNeeds } from './decision-needs';
export { evolveChat, evolveMessage } from './evolve';
