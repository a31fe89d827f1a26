import express, { Router, type ErrorRequestHandler } from 'express';
import { userIdProblem as domainUserIdProblem } from '../../domain';

/** `POST /dev/token {"userId": …}` → `{ token, userId }`: the web client's development sign-in (DESIGN.md §9). */
export const DEV_TOKEN_PATH = '/dev/token';

export type TokenIssuer = (userId: string) => Promise<string>;

/**
 * Issues a development token for any user id, signed like `parley token`. The composition mounts it
 * only outside production: anyone who reaches it can act as anyone.
 */
export function devTokenRoute(issue: TokenIssuer): Router {
  const router = Router();
  router.post(DEV_TOKEN_PATH, express.json({ limit: 4096, type: () => true }), async (request, response, next) => {
    const problem = userIdProblem((request.body as { userId?: unknown } | undefined)?.userId);
    if (problem) {
      response.status(400).json(badInput(problem));
      return;
    }
    const userId = (request.body as { userId: string }).userId;
    try {
      response.setHeader('Cache-Control', 'no-store');
      response.json({ token: await issue(userId), userId });
    } catch (error) {
      next(error);
    }
  });
  // The page asks whether development sign-in exists; 405 says "yes, but POST".
  router.all(DEV_TOKEN_PATH, (_request, response) => {
    response.setHeader('Allow', 'POST');
    response.status(405).json(badInput('use POST with a JSON body {"userId": "…"}'));
  });
  router.use(DEV_TOKEN_PATH, malformedBody);
  return router;
}

/** The same rules as a participant id (DESIGN.md §5), so every signed-in user can be added to a chat. */
function userIdProblem(userId: unknown): string | null {
  if (typeof userId !== 'string') return 'userId must be a string';
  const problem = domainUserIdProblem(userId);
  return problem ? `userId ${problem}` : null;
}

function badInput(message: string) {
  return { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] };
}

const malformedBody: ErrorRequestHandler = (error, _request, response, next) => {
  const status = (error as { status?: number }).status;
  if (status === 400 || status === 413) {
    response.status(status).json(badInput(status === 413 ? 'request body is too large' : 'the body must be JSON {"userId": "…"}'));
    return;
  }
  next(error);
};
