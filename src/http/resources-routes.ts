import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { isStorable } from '../events/storable-string.js';
import { searchResources, type FoundResource, type ResourceFilter, type TextMatch } from '../projections/queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import { principalOf, visiblePatterns } from './access-control.js';
import { decodeInput } from './codecs.js';
import { badRequest, sendError } from './errors.js';
import { pageSize } from './paging.js';
import { sendTable, wantsTable } from './text-table.js';

/** Longest filter value accepted, in characters. */
export const MAX_FILTER_LENGTH = 1024;

const FilterText = t.refinement(t.string, (s) => s.length <= MAX_FILTER_LENGTH && isStorable(s), 'FilterText');
const Limit = t.refinement(t.string, (s) => /^[1-9]\d{0,3}$/.test(s), 'Limit');
const ResourcesQuery = t.exact(
  t.partial({
    type: FilterText,
    address: FilterText,
    id: FilterText,
    provider: FilterText,
    module: FilterText,
    state: FilterText,
    limit: Limit,
    after: t.string,
    format: t.keyof({ json: null, table: null }),
  }),
);

const FILTER = `text of at most ${MAX_FILTER_LENGTH} characters (a trailing * matches by prefix), given once`;
const decodeResourcesQuery = decodeInput(
  ResourcesQuery,
  'invalid_query',
  {
    type: FILTER,
    address: FILTER,
    id: FILTER,
    provider: FILTER,
    module: FILTER,
    state: FILTER,
    limit: 'a positive integer (a page holds at most 1000)',
    after: 'the `next` of the previous page',
    format: 'json or table',
  },
  'the query is not valid',
  'query',
);

/** `value*` matches by prefix, anything else exactly (a `*` elsewhere is an ordinary character). */
const textMatch = (value: string | undefined): TextMatch | undefined =>
  value === undefined ? undefined : value.endsWith('*') ? { value: value.slice(0, -1), prefix: true } : { value, prefix: false };

/** The keyset cursor: the last row's state and place, as base64url JSON (opaque to clients). */
const cursorOf = (row: FoundResource): string => Buffer.from(JSON.stringify([row.state, row.ordinal])).toString('base64url');

const readCursor = (text: string): { state: string; ordinal: number } | undefined => {
  if (text.length > 4 * MAX_FILTER_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [state, ordinal] = value as [unknown, unknown];
    if (typeof state !== 'string' || !isStorable(state) || typeof ordinal !== 'number' || !Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal > 2 ** 31 - 1) return undefined;
    return { state, ordinal };
  } catch {
    return undefined;
  }
};

const listed = (r: FoundResource) => ({
  state: r.state,
  version: r.version,
  address: r.address,
  resource_address: r.resource_address,
  mode: r.mode,
  type: r.type,
  name: r.name,
  module: r.module,
  provider: r.provider,
  index_key: r.index_key,
  id: r.id,
});

/**
 * GET /resources: resource instances of the current versions of every state the caller may read,
 * from the contents index (so as fresh as its lag: see /readyz?verbose). Filters: `type`, `id`,
 * `provider`, `module` (empty: the root module) and `state` match exactly, or by prefix when they
 * end with `*`; `address` exactly matches an instance's address (`aws_instance.web[0]`) or its
 * resource's (`aws_instance.web`, every instance), and `address=aws_s3_bucket.*` the instance
 * addresses that start so. Paged by `limit` and `after`.
 */
export const resourcesRoutes = (deps: { readonly db: SqlExecutor }): express.Router => {
  const router = express.Router();
  router.get('/resources', async (req, res) => {
    const decoded = decodeResourcesQuery(req.query);
    if (E.isLeft(decoded)) return sendError(res, decoded.left);
    const query = decoded.right;
    const after = query.after === undefined ? undefined : readCursor(query.after);
    if (query.after !== undefined && after === undefined) return sendError(res, badRequest('invalid_query', 'after must be the `next` of the previous page'));
    const filter: ResourceFilter = {
      type: textMatch(query.type),
      address: textMatch(query.address),
      id: textMatch(query.id),
      provider: textMatch(query.provider),
      module: textMatch(query.module),
      state: textMatch(query.state),
    };
    const limit = pageSize(query.limit === undefined ? undefined : Number(query.limit));
    const found = await searchResources(deps.db, visiblePatterns(principalOf(res)), filter, { limit, after });
    const last = found[found.length - 1];
    const next = found.length === limit && last !== undefined ? cursorOf(last) : null;
    if (query.format === 'table' || wantsTable(req)) {
      return sendTable(
        res,
        ['state', 'version', 'address', 'type', 'id', 'provider'],
        found.map((r) => [r.state, r.version, r.address, r.type, r.id, r.provider]),
      );
    }
    res.json({ resources: found.map(listed), next });
  });
  return router;
};
