import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The GraphQL request body, read with a size limit before Yoga sees it: Yoga takes the buffer as it
 * is (so its own stream-based limit is switched off, see create-yoga.ts). An oversized body is
 * refused with 413 and a GraphQL-shaped error naming the limit, without reading it when its
 * Content-Length already says so; a body that breaks off is refused with 400.
 */
export function withLimitedBody(maxBytes: number, next: (request: IncomingMessage, response: ServerResponse) => void) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method !== 'POST') return next(request, response);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBytes) return refuse(request, response, 413, `request body is larger than ${maxBytes} bytes`);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        refused = true;
        refuse(request, response, 413, `request body is larger than ${maxBytes} bytes`);
        return;
      }
      chunks.push(chunk);
    });
    request.once('error', () => {
      if (!refused) (refused = true), refuse(request, response, 400, 'malformed request body');
    });
    request.once('end', () => {
      if (refused) return;
      if (bytes > 0) (request as IncomingMessage & { body?: Buffer }).body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
      next(request, response);
    });
  };
}

function refuse(request: IncomingMessage, response: ServerResponse, status: number, message: string): void {
  if (response.headersSent) return;
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
  // The rest of an oversized body is not read: the connection closes after the answer.
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body, () => request.destroy());
}
