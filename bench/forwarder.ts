import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The least a receiver can do for one event and one subscriber: hear one Redis message, parse it, and
 * write one graphql-transport-ws `next` frame to one socket. No access rules, no order, no resume, no
 * metrics. The floor the receiver's CPU per event is compared with (receiver-floor.ts); run as a child
 * process of the bench: `node forwarder.js <redis url> <channel>`, it answers its port on its IPC channel.
 */
async function main(): Promise<void> {
  const [redisUrl, channel] = process.argv.slice(2);
  const sockets = new WebSocketServer({ port: 0 });
  let socket: WebSocket | null = null;
  sockets.on('connection', (connection) => {
    socket = connection;
  });
  const subscriber = new Redis(redisUrl!);
  subscriber.on('message', (_channel: string, text: string) => {
    const message = JSON.parse(text) as unknown;
    socket?.send(JSON.stringify({ id: '1', type: 'next', payload: { data: { messageAdded: message } } }));
  });
  await subscriber.subscribe(channel!);
  await new Promise<void>((resolve) => (sockets.address() ? resolve() : sockets.once('listening', () => resolve())));
  const address = sockets.address();
  process.send!({ port: address !== null && typeof address === 'object' ? address.port : 0 });
}

void main();
