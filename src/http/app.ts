import express, { type ErrorRequestHandler } from 'express';
import type { Users } from '../config.js';
import type { LedgerDeps } from '../application/deps.js';
import type { Logger } from '../logger.js';
import { timerWakeups, type EventWakeups } from '../storage/event-wakeups.js';
import { auditRoutes } from './audit-routes.js';
import { historyRoutes } from './history-routes.js';
import { basicAuth } from './auth.js';
import { badRequest, sendError } from './errors.js';
import { healthRoute } from './health.js';
import { protocolRoutes } from './protocol-routes.js';
import { requestId } from './request-context.js';
import { stateRoutes } from './state-routes.js';

export interface AppDeps extends LedgerDeps {
  readonly users: Users;
  readonly logger: Logger;
  /** Express's `trust proxy` value (TRUST_PROXY); unset trusts no proxy. */
  readonly trustProxy?: string | undefined;
  /** Wakes long polls of the global feed; without it they re-read on a timer. */
  readonly wakeups?: EventWakeups;
}

/**
 * Errors nobody turned into a value: body-parser's own 4xx (too large, aborted) keep their status;
 * anything else is the server failing, logged, and answered 500 without internals.
 */
const lastResort =
  (logger: Logger): ErrorRequestHandler =>
  (error: { status?: number; type?: string; message?: string }, req, res, _next) => {
    if (res.headersSent) return void res.destroy();
    // The client went away mid-request (e.g. an aborted upload): nobody to answer, nothing failed here.
    if (req.socket.destroyed) {
      logger.info({ method: req.method, url: req.originalUrl, requestId: res.locals.requestId }, 'client went away');
      return;
    }
    if (error.status === 413) return sendError(res, { type: 'TooLarge', limit: 64 * 1024 });
    if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
      return sendError(res, badRequest(error.type ?? 'bad_request', error.message ?? 'bad request'));
    }
    logger.error({ err: error, method: req.method, url: req.originalUrl, requestId: res.locals.requestId }, 'request failed');
    res.status(500).json({ error: 'internal', message: 'the server failed to handle the request; see its log' });
  };

export const createApp = (deps: AppDeps): express.Express => {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // we set content ETags ourselves
  if (deps.trustProxy !== undefined) app.set('trust proxy', /^\d+$/.test(deps.trustProxy) ? Number(deps.trustProxy) : deps.trustProxy);
  app.use(requestId);
  app.use(healthRoute(deps));
  app.use(basicAuth(deps.users));
  app.use(stateRoutes(deps));
  app.use(historyRoutes(deps));
  app.use(auditRoutes({ ...deps, wakeups: deps.wakeups ?? timerWakeups }));
  app.use(protocolRoutes(deps));
  app.use((req, res) => sendError(res, { type: 'NotFound', message: `no route for ${req.method} ${req.path}` }));
  app.use(lastResort(deps.logger));
  return app;
};
