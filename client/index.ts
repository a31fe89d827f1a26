/**
 * The Parley client library (README "Client library"): what every client of Parley needs and would
 * otherwise write, and get wrong, on its own. Standalone: it imports nothing from the server.
 */
export { ParleyClient, DEFAULT_RETRY_UNAVAILABLE, type ConnectionState, type ParleyClientOptions, type RetryOptions, type Timers } from './parley-client';
export { isSafeToRepeat } from './operation-safety';
export type { ResumableSubscription, SubscriptionHandlers, SubscriptionRequest } from './resumable-subscription';
export type { LiveSubscription, LiveSubscriptionHandlers, LiveSubscriptionRequest } from './live-subscription';
export { TypingThrottle, TYPING_RENEW_MS, type SendTyping } from './typing-throttle';
export { TypingIndicators, TYPING_LAPSE_MS, type TypingIndicatorOptions, type TypingSource, type TypingTimers } from './typing-indicators';
export { PresenceMap, type PresenceListener, type PresenceSource, type UserPresence } from './presence-map';
export { ParleyError, ParleyConnectionError, CURSOR_EXPIRED, type ParleyGraphQLError } from './errors';
export { reconnectDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { compareCursors } from './cursor';
export { CursorGate } from './cursor-gate';
export { MessageTimeline, type TimelineMessage } from './message-timeline';
export type { FetchLike } from './graphql-http';
export { createResumingClient, type ResumingClientOptions } from './resuming-client';
