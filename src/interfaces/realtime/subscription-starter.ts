import { getArgumentValues, type FieldNode, type GraphQLSchema } from 'graphql';
import { InvalidArgument, PartitionVector, requireReader, type ChatReadModel, type EventHistory } from '../../application';
import type { ClientConnection } from './client-connection';
import type { HistoryReplay } from './history-replay';
import type { OperationStart } from './operation-start';
import type { OperationRequest } from './operation-request';
import { payloadGroupKey } from './payload-group-key';
import { SUBSCRIPTION_FIELDS } from './subscription-fields';
import { Subscription } from './subscription';
import { NO_LONGER_A_PARTICIPANT, type SubscriptionRouter } from './subscription-router';

export interface SubscriptionStarterDependencies {
  schema: GraphQLSchema;
  router: SubscriptionRouter;
  readModel: ChatReadModel;
  history: EventHistory;
  replay: HistoryReplay;
}

/**
 * Starts one subscription: checks access, joins the routes holding what arrives, checks access
 * again, replays history when resuming, then goes live. Nothing is sent before both checks pass.
 */
export class SubscriptionStarter {
  constructor(private readonly deps: SubscriptionStarterDependencies) {}

  async start(connection: ClientConnection, start: OperationStart, request: OperationRequest): Promise<void> {
    const { id } = start;
    const { operation } = request;
    const fieldNodes = operation.selectionSet.selections.filter((node): node is FieldNode => node.kind === 'Field');
    if (fieldNodes.length !== 1 || operation.selectionSet.selections.length !== 1) {
      return connection.sendError(id, [{ message: 'A subscription selects exactly one field', extensions: { code: 'BAD_USER_INPUT' } }]);
    }
    const fieldNode = fieldNodes[0]!;
    const fieldName = fieldNode.name.value;
    const field = SUBSCRIPTION_FIELDS[fieldName]!;
    const fieldDef = this.deps.schema.getSubscriptionType()!.getFields()[fieldName]!;
    const args = getArgumentValues(fieldDef, fieldNode, request.variables);
    const afterText = typeof args.after === 'string' ? args.after : null;
    const after = afterText === null ? null : PartitionVector.decode(afterText);
    if (afterText !== null && !after) throw new InvalidArgument('after', 'is not a cursor this server issued');

    const viewerId = connection.viewerId;
    // Ids are UUIDs, which PostgreSQL compares case-blind; routes and filters use the form events carry.
    if (field.scope === 'chat') args.chatId = String(args.chatId).toLowerCase();
    if (typeof args.messageId === 'string') args.messageId = args.messageId.toLowerCase();
    if (field.scope === 'chat') await requireReader(this.deps.readModel, String(args.chatId), viewerId);
    // Completed meanwhile, its id may already be another subscription's: this one must not join. From
    // here on it is in `connection.subscriptions`, where a complete ends it at once.
    if (!connection.isOpen || start.cancelled) return;

    const target = field.scope === 'chat' ? String(args.chatId) : viewerId;
    const group = this.deps.router.groupFor(payloadGroupKey(request, fieldNode, field, viewerId), () => ({
      document: request.document,
      operationName: request.operationName,
      variables: request.variables,
      fieldName,
      positionCursor: field.scope === 'user' && field.orderedPer === 'subscription' && !field.ephemeral,
    }));
    const subscription = new Subscription(id, connection, field, group, args, target);
    // Held from the start: what arrives waits until the re-check below has passed and history is out.
    subscription.pending = [];
    connection.subscriptions.set(id, subscription);
    this.deps.router.add(subscription);
    // From here on this receiver hears every row the subscription needs.
    const partition = await this.deps.router.acquireInterest(subscription);
    if (!subscription.active) return;
    if (field.scope === 'chat') {
      // Removed between the check above and joining the routes? Then the removal went by unseen.
      const { isParticipant, asOf } = partition === null ? { isParticipant: false, asOf: null } : await this.deps.readModel.membership(target, viewerId);
      if (!isParticipant) return this.deps.router.end(subscription, [NO_LONGER_A_PARTICIPANT]);
      if (field.ephemeral) {
        // Live from now, nothing to resume: only a removal after the re-check ends it.
        if (asOf) subscription.confirmMembership(asOf, false);
        return this.deps.router.goLive(subscription);
      }
      // A position per partition (a user-scoped cursor) means, for one chat, its partition's position.
      subscription.startAfter({ cursor: after?.at(partition!) ?? null });
      if (asOf) subscription.confirmMembership(asOf, after === null);
    } else if (field.ephemeral) {
      return this.deps.router.goLive(subscription);
    } else {
      // Live from the head as it stands once everything from here on is heard: nothing before it is new.
      subscription.startAfter({ vector: after ?? PartitionVector.at(await this.deps.history.head()) });
    }
    if (after !== null) await this.deps.replay.replay(connection, subscription, target, after, partition);
    if (subscription.active) await this.deps.router.goLive(subscription);
  }
}
