import WebSocket from 'ws';
import { createResumingClient } from '@parley/client';

const MESSAGES = `subscription Messages($chatId: ID!, $after: String) {
  messageAdded(chatId: $chatId, after: $after) { id seq content cursor }
}`;

export function watchChat(url: string | (() => Promise<string>), getToken: () => Promise<string>, chatId: string, show: (message: any) => void) {
  const client = createResumingClient({
    url,
    webSocketImpl: WebSocket, // leave out in a browser
    connectionParams: async () => ({ authorization: `Bearer ${await getToken()}` }),
  });
  client.subscribe({ query: MESSAGES, variables: { chatId } }, {
    next: ({ data }) => show(data!.messageAdded),
    error: (error) => console.error(error),
    complete: () => undefined,
  });
  return client; // client.dispose() ends it
}
