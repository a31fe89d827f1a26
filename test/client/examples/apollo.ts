import { ApolloClient, gql, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import WebSocket from 'ws';
import { createResumingClient } from '@parley/client';

const MESSAGES = gql`subscription Messages($chatId: ID!, $after: String) {
  messageAdded(chatId: $chatId, after: $after) { id seq content cursor }
}`;

export function apolloFor(url: string | (() => Promise<string>), getToken: () => Promise<string>) {
  return new ApolloClient({
    link: new GraphQLWsLink(createResumingClient({
      url,
      webSocketImpl: WebSocket, // leave out in a browser
      connectionParams: async () => ({ authorization: `Bearer ${await getToken()}` }),
    })),
    cache: new InMemoryCache(),
  });
}

export function watchChat(apollo: ApolloClient, chatId: string, show: (message: any) => void) {
  return apollo.subscribe<{ messageAdded: any }>({ query: MESSAGES, variables: { chatId } })
    .subscribe(({ data, error }) => (error ? console.error(error) : show(data!.messageAdded))); // .unsubscribe() ends it
}
