export * from './typing-rules';
export { TypingBoard } from './typing-board';
