import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import { Unauthenticated, type AccessTokenVerifier, type VerifiedAccessToken } from '../../application';

export interface GraphQLContext {
  commandBus: CommandBus;
  queryBus: QueryBus;
  /** The caller, or why there is none; resolvers ask through `viewerOf`, never read a user id from arguments. */
  viewer: { userId: string } | { error: Unauthenticated };
  /** Subscriptions: Chat.unreadCount is the viewer's, and event payloads do not carry it. */
  unreadCountOf?: (chatId: string, userId: string) => Promise<number>;
}

/** The caller of a request or a socket, with the expiry of its token; or why there is none. */
export type Authentication = VerifiedAccessToken | { error: Unauthenticated };

export async function authenticate(
  verifier: AccessTokenVerifier,
  authorization: string | null | undefined,
): Promise<Authentication> {
  if (!authorization) return { error: new Unauthenticated('missing Authorization: Bearer <token>') };
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match) return { error: new Unauthenticated('the Authorization header must be "Bearer <token>"') };
  try {
    return await verifier.verify(match[1]!);
  } catch (error) {
    if (error instanceof Unauthenticated) return { error };
    throw error;
  }
}

export function viewerOf(context: GraphQLContext): string {
  if ('error' in context.viewer) throw context.viewer.error;
  return context.viewer.userId;
}
