import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the proxy took one request. */
export type Treatment = 'forwarded' | 'unavailable' | 'applied, then unavailable';

export interface ProxiedRequest {
  /** Date.now() when the request arrived. */
  at: number;
  query: string;
  variables: Record<string, unknown>;
  treatment: Treatment;
}

interface Fault {
  /** Forward first, so the server applies the operation, then answer 503 anyway: the answer was lost. */
  afterForwarding: boolean;
  /** Answer 503 with a GraphQL body, as Parley does; false: a bare 503, as a load balancer with nothing behind it. */
  graphqlBody: boolean;
}

/**
 * An HTTP proxy in front of a real server's GraphQL endpoint that answers chosen requests itself with
 * 503 and a GraphQL `UNAVAILABLE` error, as Parley does when PostgreSQL is down or past its deadline,
 * and forwards the rest. `failNext(n)` fails the next n requests; `failEvery()` all of them until
 * `heal()`. Every request is recorded with the time it arrived and how it was treated.
 */
export class UnavailableProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly faults: Fault[] = [];
  private always: Fault | null = null;

  private constructor(private readonly server: Server, private readonly targetUrl: string) {}

  static async start(targetUrl: string): Promise<UnavailableProxy> {
    let proxy: UnavailableProxy | null = null;
    const server = createServer((request, response) => {
      proxy!.handle(request, response).catch((error: unknown) => {
        response.statusCode = 502;
        response.end(String(error));
      });
    });
    proxy = new UnavailableProxy(server, targetUrl);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The GraphQL URL through the proxy. */
  get url(): string {
    const url = new URL(this.targetUrl);
    url.hostname = '127.0.0.1';
    url.port = String((this.server.address() as AddressInfo).port);
    return url.toString();
  }

  failNext(count: number, fault: Partial<Fault> = {}): void {
    for (let i = 0; i < count; i++) this.faults.push({ afterForwarding: false, graphqlBody: true, ...fault });
  }

  failEvery(fault: Partial<Fault> = {}): void {
    this.always = { afterForwarding: false, graphqlBody: true, ...fault };
  }

  heal(): void {
    this.faults.length = 0;
    this.always = null;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const { query = '', variables = {} } = (body ? JSON.parse(body) : {}) as { query?: string; variables?: Record<string, unknown> };
    const fault = this.faults.shift() ?? this.always;
    const record = (treatment: Treatment) => this.requests.push({ at, query, variables, treatment });
    if (!fault) {
      record('forwarded');
      return this.forward(request, body, response);
    }
    if (fault.afterForwarding) await this.forward(request, body, null);
    record(fault.afterForwarding ? 'applied, then unavailable' : 'unavailable');
    response.statusCode = 503;
    if (!fault.graphqlBody) {
      response.setHeader('content-type', 'text/plain');
      response.end('Service Unavailable');
      return;
    }
    response.setHeader('content-type', 'application/graphql-response+json; charset=utf-8');
    const extensions = { code: 'UNAVAILABLE', ...(fault.afterForwarding ? { outcomeUnknown: true } : {}) };
    response.end(JSON.stringify({ errors: [{ message: 'postgres is unavailable: past its deadline; retry later', extensions }], data: null }));
  }

  /** Sends the request on to the server; writes the server's answer to `response`, or drops it when null. */
  private async forward(request: IncomingMessage, body: string, response: ServerResponse | null): Promise<void> {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'accept', 'authorization']) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const answer = await fetch(this.targetUrl, { method: request.method ?? 'POST', headers, body });
    const text = await answer.text();
    if (!response) return;
    response.statusCode = answer.status;
    response.setHeader('content-type', answer.headers.get('content-type') ?? 'application/json');
    response.end(text);
  }
}
