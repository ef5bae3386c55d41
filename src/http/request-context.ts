import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { CommandMetadata } from '../commands/commands.js';
import type { Principal } from '../identity/authenticate.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's X-Request-Id when it is sane, else makes one, and echoes it back. */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  res.locals.requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', res.locals.requestId as string);
  next();
};

/** Everything an event records about who asked and how; the clock is read here, at the edge. */
export const commandMetadata = (req: Request, res: Response): CommandMetadata => {
  const { actor, claims } = res.locals.principal as Principal;
  return {
    actor,
    ...(claims === undefined ? {} : { claims }),
    remoteAddress: req.ip ?? req.socket.remoteAddress ?? null,
    userAgent: req.get('user-agent') ?? null,
    requestId: String(res.locals.requestId),
    now: new Date(),
  };
};
