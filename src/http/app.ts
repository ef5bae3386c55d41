import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import type { EventStore } from '../commands/ports.js';
import type { LedgerEvent } from '../events/events.js';
import type { LedgerDeps } from '../application/deps.js';
import type { TrafficLimits, Users } from '../config.js';
import type { Logger } from '../logger.js';
import { timerWakeups, type EventWakeups } from '../storage/event-wakeups.js';
import type { LedgerMetrics } from '../observability/metrics.js';
import { accessLog, measureRequests } from './access-log.js';
import { metricsRoutes, recordRequests } from './metrics-routes.js';
import { faultOf } from '../storage/failures.js';
import { auditRoutes } from './audit-routes.js';
import { eventStreamRoutes } from './event-stream.js';
import { authentication } from './auth.js';
import { accessRoutes } from './access-routes.js';
import { outputsRoutes } from './outputs.js';
import { manageAccess } from '../application/manage-access.js';
import { authenticator } from '../identity/authenticate.js';
import type { OidcVerifier } from '../identity/oidc.js';
import { badRequest, failureResponse, sendError, sendResponse } from './errors.js';
import { closeIfBodyUnread, refuseEncodedBodies, refuseForeignOrigins, securityHeaders, strictQuery, wellFormedRequest } from './guards.js';
import { healthRoutes } from './health.js';
import { openApiRoutes } from './openapi.js';
import { historyRoutes } from './history-routes.js';
import { protocolRoutes } from './protocol-routes.js';
import { locksRoutes } from './locks-routes.js';
import { nestedStateNames } from './nested-names.js';
import { noPolicy, type GlobPolicy } from '../policies/glob-policy.js';
import { requestId } from './request-context.js';
import { stateRoutes } from './state-routes.js';
import { resourcesRoutes } from './resources-routes.js';
import { runsRoutes } from './runs-routes.js';
import { consoleAssets, consoleSessionRoutes } from './console-routes.js';

export interface AppDeps extends LedgerDeps {
  /** AUTH_USERS: plain-text development users, administrators of everything (empty in production). */
  readonly users: Users;
  /** Verifies OIDC-issued JWTs (OIDC_ISSUERS); without it, JWTs are refused. */
  readonly oidc?: OidcVerifier | undefined;
  /** The CN of a verified client certificate (TLS_CLIENT_CA). */
  readonly certificateName?: (req: Request) => string | undefined;
  readonly logger: Logger;
  readonly traffic: TrafficLimits;
  /** Origins besides the server's own that may send state-changing requests (ALLOWED_ORIGINS). */
  readonly allowedOrigins?: readonly string[];
  /** Express's `trust proxy` value (TRUST_PROXY); unset trusts no proxy. */
  readonly trustProxy?: string | undefined;
  /** Wakes long polls of the global feed; without it they re-read on a timer. */
  readonly wakeups?: EventWakeups;
  /** LOCK_TTL: the lease of each state's locks, in seconds; unset, locks have none. */
  readonly leases?: GlobPolicy<number | null>;
  /** Counts requests and commands and serves GET /metrics to administrators; none: no metrics. */
  readonly metrics?: LedgerMetrics | undefined;
}

/** body-parser's and express's own 4xx errors, in words instead of their internal type names. */
const frameworkMessage = (error: { status?: number; type?: string }): string =>
  error.type === 'entity.too.large'
    ? 'the body is too large'
    : error.type === 'request.aborted'
      ? 'the request was aborted before its body arrived'
      : error.type?.startsWith('encoding') || error.type === 'charset.unsupported'
        ? 'the body must be UTF-8 text'
        : 'the request could not be read (a path segment that is not valid percent-encoded UTF-8, say)';

/** The answer to an error nobody turned into a value; the client gone or mid-answer, the connection is dropped. */
const answerFailure = (logger: Logger, error: { status?: number; type?: string }, req: Request, res: Response): void => {
  const context = { method: req.method, url: req.originalUrl, requestId: res.locals.requestId };
  if (res.headersSent || req.socket == null || req.socket.destroyed) {
    // Mid-answer (a body stream failing) or the client gone: nobody to answer.
    logger.warn({ ...context, err: error }, 'request ended early');
    return void res.destroy();
  }
  if (error.status === 413) return sendError(res, { type: 'TooLarge', limit: 64 * 1024 });
  if (typeof error.status === 'number' && error.status >= 400 && error.status < 500 && faultOf(error) === undefined) {
    return sendError(res, badRequest('bad_request', frameworkMessage(error)));
  }
  const response = failureResponse(error);
  logger.error({ ...context, err: error, status: response.status }, 'request failed');
  sendResponse(res, response);
};

/**
 * Errors nobody turned into a value. A dependency failing answers 503 (507 for a full disk), a bug
 * 500; always JSON, never a stack or a path; every one is logged.
 */
const lastResort =
  (logger: Logger): ErrorRequestHandler =>
  (error: { status?: number; type?: string }, req, res, _next) => {
    try {
      answerFailure(logger, error, req, res);
    } catch (failure) {
      // Never let express's own handler answer (it renders HTML with a stack trace): drop the connection.
      logger.error({ err: failure }, 'answering a failed request failed');
      res.destroy();
    }
  };

/** The access stream, telling `changed` after each append, whatever came of it. */
const forgettingAccess = <S, Ev extends LedgerEvent>(store: EventStore<S, Ev>, changed: () => void): EventStore<S, Ev> => ({
  load: store.load,
  append: async (loaded, request) => {
    try {
      return await store.append(loaded, request);
    } finally {
      changed(); // also when the outcome is unknown (the connection dropped after the commit)
    }
  },
});

export const createApp = (appDeps: AppDeps): express.Express => {
  const { metrics } = appDeps;
  // Every command tells the metrics how it ended (the handler's observer port).
  const deps: AppDeps = { ...appDeps, commandObserver: metrics?.commands };
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // we set content ETags ourselves
  if (deps.trustProxy !== undefined) app.set('trust proxy', /^\d+$/.test(deps.trustProxy) ? Number(deps.trustProxy) : deps.trustProxy);
  // Measured and logged from the first byte: every refusal below is in the access log and the metrics.
  app.use(requestId, measureRequests, accessLog(deps.logger));
  if (metrics !== undefined) app.use(recordRequests(metrics));
  app.use(closeIfBodyUnread, securityHeaders, wellFormedRequest);
  app.use(healthRoutes({ ...deps, readyTimeoutMs: deps.traffic.readyTimeoutMs }));
  app.use(openApiRoutes()); // the API's description: no secrets, no authentication
  app.use(consoleAssets()); // the web console's files: no data, no authentication
  app.use(refuseForeignOrigins(deps.allowedOrigins ?? []), refuseEncodedBodies, strictQuery);
  const authenticate = authenticator({
    sql: deps.db,
    devUsers: deps.users,
    oidc: deps.oidc,
    onBackgroundError: (error) => deps.logger.warn({ err: error }, 'recording when a token was last used failed'),
  });
  app.use(
    authentication({
      authenticator: authenticate,
      logger: deps.logger,
      failuresPerMinute: deps.traffic.loginFailuresPerMinute,
      ...(deps.certificateName === undefined ? {} : { certificateName: deps.certificateName }),
    }),
  );
  if (metrics !== undefined) app.use(metricsRoutes(metrics, deps.logger));
  // The protocol first: it carries nearly all the traffic, and no other route shares its paths and methods.
  app.use(nestedStateNames);
  app.use(protocolRoutes({ ...deps, leases: deps.leases ?? noPolicy }));
  app.use(consoleSessionRoutes({ db: deps.db, authenticator: authenticate }));
  const accessStore = forgettingAccess(deps.accessStore, authenticate.accessChanged);
  app.use(accessRoutes({ ...deps, access: manageAccess(accessStore, deps.commandObserver) }));
  app.use(stateRoutes(deps));
  app.use(locksRoutes(deps));
  app.use(outputsRoutes(deps));
  app.use(historyRoutes(deps));
  app.use(runsRoutes(deps));
  app.use(resourcesRoutes(deps));
  app.use(eventStreamRoutes({ ...deps, wakeups: deps.wakeups ?? timerWakeups, authenticator: authenticate }));
  app.use(auditRoutes({ ...deps, wakeups: deps.wakeups ?? timerWakeups }));
  app.use((req, res) => sendError(res, { type: 'NotFound', message: `no route for ${req.method} ${req.path}` }));
  app.use(lastResort(deps.logger));
  return app;
};
