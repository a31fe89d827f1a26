export * from './chat';
export * from './presence';
