import express, { type ErrorRequestHandler, type RequestHandler } from 'express';

/**
 * Reads the GraphQL request body with a size limit before Yoga sees it (Yoga then takes the buffer as is).
 * An oversized body is refused with 413 and a GraphQL-shaped error naming the limit.
 */
export function limitedBody(maxBytes: number): RequestHandler {
  return express.raw({ type: () => true, limit: maxBytes });
}

export function bodyErrors(maxBytes: number): ErrorRequestHandler {
  return (error, _request, response, next) => {
    const status = (error as { status?: number }).status;
    if (status === 413) {
      response.status(413).json({
        errors: [{ message: `request body is larger than ${maxBytes} bytes`, extensions: { code: 'BAD_USER_INPUT' } }],
      });
      return;
    }
    if (status === 400) {
      response.status(400).json({ errors: [{ message: 'malformed request body', extensions: { code: 'BAD_USER_INPUT' } }] });
      return;
    }
    next(error);
  };
}
