import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  validate,
  execute,
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, CloseCode, type SubscribeMessage } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  decodeCursor,
  InvalidArgument,
  requireReader,
  type AccessTokenVerifier,
  type ChatReadModel,
  type EventHistory,
} from '../../application';
import { authenticate, type GraphQLContext } from '../graphql/graphql-context';
import { toGraphQLError } from '../graphql/graphql-errors';
import { limitRules, type GraphQLLimits } from '../graphql/graphql-limits';
import { unstorableVariable } from '../graphql/storable-input';
import { ClientConnection, GOING_AWAY_CLOSE_CODE, type ConnectionLimits } from './client-connection';
import { SUBSCRIPTION_FIELDS, type SubscriptionField } from './subscription-fields';
import { routeKey, Subscription, type PayloadGroup } from './subscription';
import type { SubscriptionRouter } from './subscription-router';

export interface SubscriptionServerDependencies {
  schema: GraphQLSchema;
  router: SubscriptionRouter;
  history: EventHistory;
  readModel: ChatReadModel;
  verifier: AccessTokenVerifier;
  /** The context of queries and mutations sent over the socket. */
  contextFor(viewerId: string): GraphQLContext;
  limits: ConnectionLimits & GraphQLLimits;
  path: string;
  onError(error: unknown): void;
  onConnectionCountChanged?(count: number): void;
  onSlowConsumer?(): void;
}

const HISTORY_PAGE = 500;

/**
 * GraphQL over WebSocket (graphql-transport-ws, as the graphql-ws client speaks it) on the HTTP
 * server's `/graphql`. Subscriptions are fed by the router; `after` replays history first.
 */
export class SubscriptionServer {
  private readonly sockets = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    handleProtocols: (protocols) => (protocols.has(GRAPHQL_TRANSPORT_WS_PROTOCOL) ? GRAPHQL_TRANSPORT_WS_PROTOCOL : false),
  });
  private readonly connections = new Set<ClientConnection>();
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== this.deps.path) {
      socket.destroy();
      return;
    }
    this.sockets.handleUpgrade(request, socket, head, (ws) => this.accept(ws));
  };

  constructor(private readonly server: Server, private readonly deps: SubscriptionServerDependencies) {
    server.on('upgrade', this.onUpgrade);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops taking sockets and closes the open ones with "going away": clients reconnect elsewhere and resume. */
  async close(): Promise<void> {
    this.server.off('upgrade', this.onUpgrade);
    for (const connection of this.connections) connection.close(GOING_AWAY_CLOSE_CODE, 'Server is shutting down; resume with your last cursor');
    await new Promise<void>((resolve) => this.sockets.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    if (ws.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      ws.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    const connection = new ClientConnection(ws, this.deps.limits, {
      authenticate: async (_, payload) => {
        const viewer = await authenticate(this.deps.verifier, stringOrNull(payload?.authorization ?? payload?.Authorization));
        return 'userId' in viewer ? viewer : null;
      },
      subscribe: (conn, message) => this.subscribe(conn, message).catch((error: unknown) => this.fail(conn, message.id, error)),
      unsubscribe: (subscription) => this.deps.router.remove(subscription),
      closed: (conn) => this.forget(conn),
      slowConsumer: () => this.deps.onSlowConsumer?.(),
      failed: (error) => this.deps.onError(error),
    });
    this.connections.add(connection);
    this.deps.onConnectionCountChanged?.(this.connections.size);
  }

  private forget(connection: ClientConnection): void {
    for (const subscription of connection.subscriptions.values()) this.deps.router.remove(subscription);
    connection.subscriptions.clear();
    if (this.connections.delete(connection)) this.deps.onConnectionCountChanged?.(this.connections.size);
  }

  private async subscribe(connection: ClientConnection, message: SubscribeMessage): Promise<void> {
    const { query, variables, operationName } = message.payload;
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      return connection.sendError(message.id, [{ message: (error as Error).message, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }]);
    }
    let validationErrors: readonly GraphQLError[];
    try {
      validationErrors = validate(this.deps.schema, document, limitRules(this.deps.limits));
    } catch (error) {
      // The limit rules throw on the first limit exceeded.
      if (!(error instanceof GraphQLError)) throw error;
      validationErrors = [new GraphQLError(error.message.replace(/^Syntax Error: /, ''))];
    }
    const operation = getOperationAST(document, operationName);
    if (validationErrors.length > 0 || !operation) {
      const errors = validationErrors.length ? validationErrors : [new GraphQLError('Could not determine which operation to run')];
      return connection.sendError(message.id, errors.map((error) => ({ message: error.message, extensions: { code: error.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED' } })));
    }
    const unstorable = unstorableVariable(variables);
    if (unstorable) return connection.sendError(message.id, [{ message: unstorable.message, extensions: unstorable.extensions }]);
    const coerced = getVariableValues(this.deps.schema, operation.variableDefinitions ?? [], variables ?? {});
    if (coerced.errors) {
      return connection.sendError(message.id, coerced.errors.map((error) => ({ message: error.message, extensions: { code: 'BAD_USER_INPUT' } })));
    }
    if (operation.operation !== 'subscription') return this.executeOnce(connection, message, document, coerced.coerced);
    return this.startSubscription(connection, message, document, operation, coerced.coerced);
  }

  private async startSubscription(
    connection: ClientConnection,
    message: SubscribeMessage,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown>,
  ): Promise<void> {
    const fieldNodes = operation.selectionSet.selections.filter((node): node is FieldNode => node.kind === 'Field');
    if (fieldNodes.length !== 1 || operation.selectionSet.selections.length !== 1) {
      return connection.sendError(message.id, [{ message: 'A subscription selects exactly one field', extensions: { code: 'BAD_USER_INPUT' } }]);
    }
    const fieldNode = fieldNodes[0]!;
    const fieldName = fieldNode.name.value;
    const field = SUBSCRIPTION_FIELDS[fieldName]!;
    const fieldDef = this.deps.schema.getSubscriptionType()!.getFields()[fieldName]!;
    const args = getArgumentValues(fieldDef, fieldNode, variables);
    const after = typeof args.after === 'string' ? args.after : null;
    if (after !== null && !decodeCursor(after)) throw new InvalidArgument('after', 'is not a cursor this server issued');

    const viewerId = connection.viewerId;
    // Ids are UUIDs, which PostgreSQL compares case-blind; routes and filters use the form events carry.
    if (field.scope === 'chat') args.chatId = String(args.chatId).toLowerCase();
    if (typeof args.messageId === 'string') args.messageId = args.messageId.toLowerCase();
    if (field.scope === 'chat') await requireReader(this.deps.readModel, String(args.chatId), viewerId);
    if (!connection.isOpen || connection.cancelled.has(message.id)) return;

    const target = field.scope === 'chat' ? String(args.chatId) : viewerId;
    const group = payloadGroup(message, document, variables, fieldName, field, viewerId);
    const subscription = new Subscription(message.id, connection, field, group, args, routeKey(field.channel, target), after);
    if (after !== null) subscription.pending = [];
    connection.subscriptions.set(message.id, subscription);
    this.deps.router.add(subscription);
    // Removed between the check above and joining the routes? Then the removal went by unseen.
    if (field.scope === 'chat' && !(await this.deps.readModel.membership(target, viewerId)).isParticipant) {
      return this.revoke(subscription);
    }
    if (after !== null) {
      await this.replay(connection, subscription, target, after);
      if (subscription.active) await this.deps.router.goLive(subscription);
    }
    if (connection.cancelled.has(message.id)) this.unsubscribe(connection, subscription);
  }

  private unsubscribe(connection: ClientConnection, subscription: Subscription): void {
    connection.subscriptions.delete(subscription.id);
    this.deps.router.remove(subscription);
  }

  /** Sends what the subscriber missed, from the event store, in cursor order. */
  private async replay(connection: ClientConnection, subscription: Subscription, target: string, after: string): Promise<void> {
    const { field } = subscription;
    if (field.channel === 'unreadCountUpdated') {
      // A derived subscription may send the current value of each count instead of every step (DESIGN.md §4).
      for (const message of await this.deps.history.currentUnreadCounts(target)) {
        await this.deps.router.sendTo(subscription, message);
      }
      return;
    }
    let cursor = after;
    for (;;) {
      if (!connection.isOpen || !subscription.active) return;
      const page = field.scope === 'chat'
        ? await this.deps.history.inChat(target, cursor, HISTORY_PAGE)
        : await this.deps.history.forUser(target, cursor, HISTORY_PAGE);
      for (const record of page) {
        for (const message of record.messages) {
          // History past the viewer's removal from the chat is no longer theirs to read.
          if (field.scope === 'chat' && message.meta.removedUserIds?.includes(subscription.viewerId)) {
            return this.revoke(subscription);
          }
          if (message.channel !== field.channel) continue;
          if (field.scope === 'user' && !message.meta.userIds?.includes(target)) continue;
          await this.deps.router.sendTo(subscription, message);
        }
        cursor = record.cursor;
      }
      connection.checkPending(subscription);
      if (page.length < HISTORY_PAGE) return;
      // A long history goes out no faster than the client reads it, so a healthy reader is never cut off.
      await connection.drained();
    }
  }

  private async executeOnce(
    connection: ClientConnection,
    message: SubscribeMessage,
    document: DocumentNode,
    variables: Record<string, unknown>,
  ): Promise<void> {
    const result = await execute({
      schema: this.deps.schema,
      document,
      operationName: message.payload.operationName,
      variableValues: variables,
      contextValue: this.deps.contextFor(connection.viewerId),
    });
    const errors = result.errors?.map((error) => {
      const known = toGraphQLError(error);
      if (known) return known.toJSON();
      if (error.originalError) this.deps.onError(error.originalError);
      return { message: error.originalError ? 'Unexpected error.' : error.message, path: error.path };
    });
    connection.send(JSON.stringify({ id: message.id, type: 'next', payload: errors ? { ...result, errors } : result }));
    connection.sendComplete(message.id);
  }

  private fail(connection: ClientConnection, id: string, error: unknown): void {
    const known = toGraphQLError(error);
    if (!known) this.deps.onError(error);
    const subscription = connection.subscriptions.get(id);
    if (subscription) this.unsubscribe(connection, subscription);
    connection.sendError(id, [known ? known.toJSON() : { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
  }

  /** Ends one subscription with FORBIDDEN: its viewer was removed from the chat. */
  revoke(subscription: Subscription): void {
    if (!subscription.active) return;
    const connection = subscription.sink as ClientConnection;
    this.unsubscribe(connection, subscription);
    connection.sendError(subscription.id, [
      { message: 'you are no longer a participant of this chat', extensions: { code: 'FORBIDDEN' } },
    ]);
  }
}

/** Subscribers share a payload when the operation, the variables that shape it and (if it matters) the viewer match. */
function payloadGroup(
  message: SubscribeMessage,
  document: DocumentNode,
  variables: Record<string, unknown>,
  fieldName: string,
  field: SubscriptionField,
  viewerId: string,
): PayloadGroup {
  const { after: _after, ...shaping } = variables;
  const key = [message.payload.query, message.payload.operationName ?? '', JSON.stringify(shaping), field.viewerDependent ? viewerId : '']
    .join('\u0000');
  return { key, document, operationName: message.payload.operationName ?? null, variables, fieldName };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
