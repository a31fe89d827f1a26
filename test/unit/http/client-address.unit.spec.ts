import type { IncomingMessage } from 'node:http';
import { clientAddressOf } from '../../../src/interfaces/http/client-address';

/** A request as Node hands it over: the socket's peer, and whatever headers the sender wrote. */
function request(peer: string, forwardedFor?: string): IncomingMessage {
  const socket = { remoteAddress: peer };
  return { socket, connection: socket, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } } as unknown as IncomingMessage;
}

describe('a request’s client address (TRUST_PROXY)', () => {
  it('given no trusted proxy, when a client sends x-forwarded-for, then its socket’s peer address is the client', () => {
    expect(clientAddressOf([])(request('198.51.100.7', '203.0.113.1'))).toBe('198.51.100.7');
  });

  it('given a trusted proxy, when it forwards a client, then the client is the address it appended', () => {
    expect(clientAddressOf(['loopback'])(request('127.0.0.1', '203.0.113.1'))).toBe('203.0.113.1');
  });

  it('given a trusted proxy, when a client wrote its own x-forwarded-for before it, then the client is the address the proxy saw', () => {
    // The proxy appends the peer it saw to what the client sent: only that last entry is the proxy's word
    expect(clientAddressOf(['10.0.0.0/8'])(request('10.0.0.5', '203.0.113.1, 198.51.100.7'))).toBe('198.51.100.7');
  });

  it('given a trusted subnet, when a request comes from outside it, then its header is not believed', () => {
    expect(clientAddressOf(['10.0.0.0/8'])(request('198.51.100.7', '203.0.113.1'))).toBe('198.51.100.7');
  });
});
