import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { lockIdOf, type RecordedEvent } from '../events/events.js';
import { globalFeed, presentPosition, stateKnown, streamEvents } from '../storage/event-reads.js';
import type { EventWakeups } from '../storage/event-wakeups.js';
import { decodeEventsQuery, decodeFeedQuery, decodeRequest, decodeStateParams } from './codecs.js';
import { eventJson } from './event-json.js';
import { badRequest, notFound, sendError } from './errors.js';
import { principalOf, requireRole, visiblePatterns } from './access-control.js';
import { mayManageAccess } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';
import { pageSize } from './paging.js';
import { sendTable, wantsTable } from './text-table.js';

const eventColumns = ['position', 'state', 'version', 'type', 'time', 'actor', 'address', 'user agent', 'request id', 'lock id'];
const eventCells = (e: RecordedEvent) => [
  e.position,
  e.streamId,
  e.streamVersion,
  e.event.type,
  e.recordedAt,
  e.metadata.actor,
  e.metadata.remote_address,
  e.metadata.user_agent,
  e.metadata.request_id,
  lockIdOf(e.event),
];

/** The audit trail: every event of a state, and the global feed in commit order. */
/**
 * How often a long poll re-reads even without a notification: a commit can become visible to the
 * feed only when an older transaction ends, which sends no NOTIFY of its own.
 */
const BACKSTOP_MS = 1000;

export const auditRoutes = ({ db, wakeups, logger }: LedgerDeps & { readonly wakeups: EventWakeups; readonly logger: Logger }): express.Router => {
  const router = express.Router();

  router.get('/states/:name/events', requireRole('read', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeEventsQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const limit = pageSize(query.limit);
    const newestFirst = query.order === 'newest' || query.before !== undefined;
    if (newestFirst && (query.after !== undefined || query.order === 'oldest')) {
      return sendError(res, badRequest('invalid_query', 'after pages oldest first, before (or order=newest) newest first: give one of them'));
    }
    const page = newestFirst ? { before: query.before ?? Number.MAX_SAFE_INTEGER, limit } : { after: query.after ?? 0, limit };
    const events = await streamEvents(db, name, page);
    if (events.length === 0 && !(await stateKnown(db, name))) return sendError(res, notFound(`state ${name} does not exist`));
    if (wantsTable(req)) return sendTable(res, eventColumns, events.map(eventCells));
    const last = events[events.length - 1];
    const more = events.length === limit && last !== undefined && (!newestFirst || last.streamVersion > 1);
    res.json({ name, events: events.map(eventJson), next: more ? last.streamVersion : null });
  });

  router.get('/events', async (req, res) => {
    const decoded = decodeFeedQuery(req.query);
    if (E.isLeft(decoded)) return sendError(res, decoded.left);
    const query = decoded.right;
    const principal = principalOf(res);
    const visible = { states: visiblePatterns(principal), access: mayManageAccess(principal) };
    const after = query.after === 'now' ? await presentPosition(db) : (query.after ?? 0);
    const page = { after, limit: pageSize(query.limit), visible };
    // ?wait=S: a long poll that answers as soon as there is something after the cursor, also a
    // cursor the feed has not reached yet (an empty page keeps it: the client asks again with it).
    const deadline = Date.now() + (query.wait ?? 0) * 1000;
    let events = await globalFeed(db, page);
    while (events.length === 0 && Date.now() < deadline && !req.socket.destroyed) {
      await wakeups.next(Math.min(BACKSTOP_MS, deadline - Date.now()));
      events = await globalFeed(db, page);
    }
    if (wantsTable(req)) return sendTable(res, eventColumns, events.map(eventCells));
    res.json({ events: events.map(eventJson), next: events[events.length - 1]?.position ?? after });
  });

  return router;
};
