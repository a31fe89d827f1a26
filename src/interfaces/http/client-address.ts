import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/**
 * The address a request comes from, for what is limited per caller before anyone is authenticated.
 * `x-forwarded-for` is the client's to write: it is believed only hop by hop from the socket's peer
 * back through the proxies named in TRUST_PROXY (proxy-addr, as express's `trust proxy` reads it), so
 * a client that names a new address in every request still counts as the one peer it is.
 */
export function clientAddressOf(trustedProxies: readonly string[]): (request: IncomingMessage) => string {
  const trust = proxyAddr.compile([...trustedProxies]);
  // A socket that closed meanwhile has no peer address left.
  return (request) => proxyAddr(request, trust) ?? 'unknown';
}
