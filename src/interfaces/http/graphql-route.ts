import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Serves one path with `handler` straight from the HTTP server, ahead of the framework that serves
 * the rest (Nest on express: health, metrics). GraphQL is the hot path: measured under the write
 * load, express's router, body parser and Nest's layers cost about 6 % of a sender's CPU per request
 * for nothing GraphQL needs.
 */
export function serveFirst(server: Server, path: string, handler: (request: IncomingMessage, response: ServerResponse) => void): void {
  const rest = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const url = request.url ?? '';
    const end = url.indexOf('?');
    if ((end < 0 ? url : url.slice(0, end)) === path) return handler(request, response);
    for (const listener of rest) listener.call(server, request, response);
  });
}
