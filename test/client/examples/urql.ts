import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import WebSocket from 'ws';
import { createResumingClient } from '@parley/client';

const MESSAGES = `subscription Messages($chatId: ID!, $after: String) {
  messageAdded(chatId: $chatId, after: $after) { id seq content cursor }
}`;

export function urqlFor(httpUrl: string, wsUrl: string | (() => Promise<string>), getToken: () => Promise<string>) {
  const socket = createResumingClient({
    url: wsUrl,
    webSocketImpl: WebSocket, // leave out in a browser
    connectionParams: async () => ({ authorization: `Bearer ${await getToken()}` }),
  });
  return new Client({
    url: httpUrl, // queries and mutations: give fetchOptions your bearer header
    exchanges: [fetchExchange, subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: socket.subscribe({ ...request, query: request.query ?? '' }, sink) }),
      }),
    })],
  });
}

export function watchChat(urql: Client, chatId: string, show: (message: any) => void) {
  return urql.subscription(MESSAGES, { chatId })
    .subscribe(({ data, error }) => (error ? console.error(error) : show(data.messageAdded))); // .unsubscribe() ends it
}
