import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLSchema } from 'graphql';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, CloseCode, type SubscribeMessage } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AccessTokenVerifier, ChatReadModel, EventHistory } from '../../application';
import { authenticate, type GraphQLContext } from '../graphql/graphql-context';
import { toGraphQLError } from '../graphql/graphql-errors';
import type { GraphQLLimits } from '../graphql/graphql-limits';
import type { RateLimiter } from '../graphql/rate-limit';
import { ClientConnection, GOING_AWAY_CLOSE_CODE, type ConnectionHandlers, type ConnectionLimits } from './client-connection';
import { HistoryReplay } from './history-replay';
import { OperationPreparer } from './operation-request';
import type { OperationStart } from './operation-start';
import { SocketOperations } from './socket-operations';
import { SubscriptionStarter } from './subscription-starter';
import { WriteCoalescer, type CorkableStream } from './write-coalescer';
import type { SubscriptionRouter } from './subscription-router';

export interface SocketServerLimits {
  /** Acknowledged sockets of one user on this instance (DESIGN.md §4). */
  maxConnectionsPerUser: number;
  /** The server pings every socket this often, and drops one that has not answered by the next ping. */
  pingIntervalMs: number;
}

export interface SubscriptionServerDependencies {
  schema: GraphQLSchema;
  router: SubscriptionRouter;
  history: EventHistory;
  readModel: ChatReadModel;
  verifier: AccessTokenVerifier;
  /** The context of queries and mutations sent over the socket. */
  contextFor(viewerId: string): GraphQLContext;
  /** Operations per user, shared with HTTP. */
  rateLimiter: RateLimiter;
  limits: ConnectionLimits & GraphQLLimits & SocketServerLimits;
  path: string;
  onError(error: unknown): void;
  onConnectionCountChanged?(count: number): void;
  onSlowConsumer?(): void;
  /** A socket of the user was acknowledged here (presence counts them). */
  onUserConnected?(userId: string): void;
  /** An acknowledged socket of the user closed. */
  onUserDisconnected?(userId: string): void;
}

/**
 * GraphQL over WebSocket (graphql-transport-ws, as the graphql-ws client speaks it) on the HTTP
 * server's `/graphql`: the upgrade, the open connections, and what each `subscribe` message starts.
 */
export class SubscriptionServer {
  private readonly sockets = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    handleProtocols: (protocols) => (protocols.has(GRAPHQL_TRANSPORT_WS_PROTOCOL) ? GRAPHQL_TRANSPORT_WS_PROTOCOL : false),
  });
  private readonly connections = new Set<ClientConnection>();
  private readonly connectionsPerUser = new Map<string, number>();
  /** One timer for every socket, not one each: an idle connection costs no timer of its own. */
  private readonly pinger: NodeJS.Timeout;
  private readonly operations: SocketOperations;
  private readonly starter: SubscriptionStarter;
  private readonly preparer: OperationPreparer;
  /** One object for every connection (an idle connection should cost little): they pass themselves in. */
  private readonly handlers: ConnectionHandlers;
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== this.deps.path) {
      socket.destroy();
      return;
    }
    this.sockets.handleUpgrade(request, socket, head, (ws) => this.accept(ws, socket));
  };

  constructor(private readonly server: Server, private readonly deps: SubscriptionServerDependencies) {
    server.on('upgrade', this.onUpgrade);
    this.operations = new SocketOperations(deps);
    this.preparer = new OperationPreparer(deps.schema, deps.limits);
    let lastTick = Date.now();
    this.pinger = setInterval(() => {
      // A tick far behind means this process was stalled (a long pause): pongs that came meanwhile are
      // not read yet, so nobody is judged on this round.
      const now = Date.now();
      const onTime = now - lastTick < deps.limits.pingIntervalMs * 1.5;
      lastTick = now;
      for (const connection of this.connections) connection.ping(onTime);
    }, deps.limits.pingIntervalMs);
    this.pinger.unref();
    this.starter = new SubscriptionStarter({ ...deps, replay: new HistoryReplay(deps.history, deps.router) });
    this.handlers = {
      authenticate: async (_, payload) => {
        const viewer = await authenticate(this.deps.verifier, stringOrNull(payload?.authorization ?? payload?.Authorization));
        return 'userId' in viewer ? viewer : null;
      },
      admit: (_, userId) => {
        const open = this.connectionsPerUser.get(userId) ?? 0;
        if (open >= this.deps.limits.maxConnectionsPerUser) return false;
        this.connectionsPerUser.set(userId, open + 1);
        this.deps.onUserConnected?.(userId);
        return true;
      },
      subscribe: (conn, message, start) => this.subscribe(conn, message, start).catch((error: unknown) => this.fail(conn, start, error)),
      unsubscribe: (subscription) => this.deps.router.remove(subscription),
      closed: (conn) => this.forget(conn),
      slowConsumer: () => this.deps.onSlowConsumer?.(),
      failed: (error) => this.deps.onError(error),
      // A turn's frames to one client leave in one system call.
      coalescer: new WriteCoalescer(),
    };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops taking sockets and closes the open ones with "going away": clients reconnect elsewhere and resume. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    this.server.off('upgrade', this.onUpgrade);
    for (const connection of this.connections) connection.close(GOING_AWAY_CLOSE_CODE, 'Server is shutting down; resume with your last cursor');
    await new Promise<void>((resolve) => this.sockets.close(() => resolve()));
  }

  /**
   * Takes one upgraded socket (public so that tests can hand it a socket of their own); `stream` is the
   * connection the upgrade came on, which the socket writes to.
   */
  accept(ws: WebSocket, stream?: CorkableStream): void {
    if (ws.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      ws.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    const connection = new ClientConnection(ws, this.deps.limits, this.handlers, stream);
    this.connections.add(connection);
    this.deps.onConnectionCountChanged?.(this.connections.size);
  }

  private forget(connection: ClientConnection): void {
    for (const subscription of connection.subscriptions.values()) this.deps.router.remove(subscription);
    connection.subscriptions.clear();
    const userId = connection.acknowledgedUser;
    if (userId !== null && this.connections.has(connection)) {
      const open = (this.connectionsPerUser.get(userId) ?? 1) - 1;
      if (open > 0) this.connectionsPerUser.set(userId, open);
      else this.connectionsPerUser.delete(userId);
      this.deps.onUserDisconnected?.(userId);
    }
    if (this.connections.delete(connection)) this.deps.onConnectionCountChanged?.(this.connections.size);
  }

  private async subscribe(connection: ClientConnection, message: SubscribeMessage, start: OperationStart): Promise<void> {
    const request = this.preparer.prepare(message.payload);
    if ('errors' in request) return connection.sendError(message.id, request.errors);
    if (request.operation.operation !== 'subscription') return this.operations.run(connection, start, request);
    return this.starter.start(connection, start, request);
  }

  private fail(connection: ClientConnection, start: OperationStart, error: unknown): void {
    const known = toGraphQLError(error);
    if (!known) this.deps.onError(error);
    // The client no longer listens for it, and its id may belong to a newer start by now.
    if (start.cancelled) return;
    const { id } = start;
    const subscription = connection.subscriptions.get(id);
    if (subscription) {
      connection.subscriptions.delete(id);
      this.deps.router.remove(subscription);
    }
    connection.sendError(id, [
      known ? (known.toJSON() as { message: string; extensions: { code: string } }) : { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
  }
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
