import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { mayManageAccess } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';
import { UNMATCHED, type LedgerMetrics } from '../observability/metrics.js';
import { logDenial, principalOf } from './access-control.js';
import { requestSummary, whenDone } from './access-log.js';
import { sendError } from './errors.js';

/** Counts every request when its answer finishes (after measureRequests). */
export const recordRequests =
  (metrics: LedgerMetrics): RequestHandler =>
  (req, res, next) => {
    whenDone(res, () => {
      const summary = requestSummary(req, res);
      metrics.request({
        route: summary.route ?? UNMATCHED,
        method: summary.method,
        status: summary.status,
        seconds: summary.duration_ms / 1000,
        bytesIn: summary.bytes_in,
        bytesOut: summary.bytes_out,
      });
    });
    next();
  };

/** Answers the metrics as Prometheus text; 503 if even the process's own metrics cannot be rendered. */
const serveMetrics =
  (metrics: LedgerMetrics, logger: Logger): RequestHandler =>
  async (_req, res) => {
    let text: string;
    try {
      text = await metrics.render();
    } catch (error) {
      logger.error({ err: error }, 'rendering the metrics failed');
      return sendError(res, { type: 'ServerBusy', message: 'the metrics could not be collected; try again' });
    }
    res.status(200).setHeader('Content-Type', metrics.contentType).setHeader('Cache-Control', 'no-store').end(text);
  };

/** GET /metrics on the main port: for administrators (the admin role on `*`) only. */
export const metricsRoutes = (metrics: LedgerMetrics, logger: Logger): express.Router => {
  const router = express.Router();
  router.get('/metrics', (req, res, next) => {
    if (mayManageAccess(principalOf(res))) return next();
    logDenial(logger, req, res, 'admin on *', null, undefined);
    sendError(res, { type: 'Forbidden', message: `the metrics need the admin role on every state (a grant of admin on *); ${principalOf(res).actor} has none` });
  }, serveMetrics(metrics, logger));
  return router;
};

/**
 * The app of METRICS_PORT: GET /metrics without authentication, nothing else. For a port only the
 * monitoring network reaches.
 */
export const metricsApp = (metrics: LedgerMetrics, logger: Logger): express.Express => {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', serveMetrics(metrics, logger));
  app.use((req, res) => sendError(res, { type: 'NotFound', message: `no route for ${req.method} ${req.path}: this port serves only GET /metrics` }));
  const failed: ErrorRequestHandler = (error, _req, res, _next) => {
    logger.error({ err: error }, 'a metrics request failed');
    if (res.headersSent) return void res.destroy();
    sendError(res, { type: 'ServerBusy', message: 'the metrics could not be collected; try again' });
  };
  app.use(failed);
  return app;
};
