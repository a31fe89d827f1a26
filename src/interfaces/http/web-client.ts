import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type RequestHandler } from 'express';

/** Where the web client is served; its page reaches /graphql on the same origin. */
export const WEB_CLIENT_PATH = '/';

/**
 * Serves the built web client (DESIGN.md §9) from the package itself, so it works without internet
 * access. Without a build (`npm run build` makes `dist/web`), `/` says so instead of a bare 404.
 */
export function webClient(directory: string): RequestHandler {
  if (!existsSync(join(directory, 'index.html'))) {
    return (request, response, next) => {
      if (request.method !== 'GET' || request.path !== '/') return next();
      response.status(503).type('text/plain').send(`The web client is not built (no ${directory}): run npm run build\n`);
    };
  }
  const files = express.static(directory, {
    index: 'index.html',
    // File names carry no content hash: the browser revalidates (ETag) instead of trusting a stale copy.
    cacheControl: true,
    maxAge: 0,
    setHeaders: (response) => {
      // The page holds a token: no script, style or connection that is not of this origin.
      response.setHeader(
        'Content-Security-Policy',
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      );
      response.setHeader('X-Content-Type-Options', 'nosniff');
      response.setHeader('Referrer-Policy', 'no-referrer');
    },
  });
  return files;
}
