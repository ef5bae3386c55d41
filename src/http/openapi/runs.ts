import { parameterRef, responseRef, schemaRef } from './components.js';

/**
 * GET /states/{name}/runs in the OpenAPI document (spread into its paths by src/http/openapi.ts).
 * Its responses list every status the guards in front of it can answer too.
 */

type Json = Record<string, unknown>;

const error = (description: string): Json => ({ description, content: { 'application/json': { schema: schemaRef('Error') } } });
const nullable = (schema: Json): Json => ({ oneOf: [schema, { type: 'null' }] });
const VERSION: Json = { type: 'integer', minimum: 1, maximum: 2147483647 };

const run: Json = {
  type: 'object',
  required: [
    'first_version', 'last_version', 'versions', 'base_version', 'lock_id', 'operation', 'who', 'started_by',
    'started_at', 'ended_at', 'ended', 'resources', 'resources_unknown',
  ],
  properties: {
    first_version: { ...VERSION, description: "The run's first version: also its identifier in `before`." },
    last_version: VERSION,
    versions: { type: 'integer', minimum: 1, description: 'How many versions it wrote.' },
    base_version: { ...nullable(VERSION), description: 'The current version before the run; null when the state had none.' },
    lock_id: { ...nullable({ type: 'string' }), description: 'The lock it was written under; null for a version pushed without a lock.' },
    operation: { ...nullable({ type: 'string' }), description: "The lock's Operation (`OperationTypeApply`, ...)." },
    who: { ...nullable({ type: 'string' }), description: "The lock's Who (`user@host`), as the client sent it." },
    started_by: { type: 'string', description: 'The authenticated caller who took the lock (or pushed the version).' },
    started_at: { type: 'string', format: 'date-time', description: 'When the lock was taken (or the version pushed).' },
    ended_at: { ...nullable({ type: 'string', format: 'date-time' }), description: 'When its lock was released or lost; null while it is held.' },
    ended: {
      ...nullable({ type: 'string', enum: ['unlocked', 'force-unlocked', 'lease-expired', 'not-locked'] }),
      description: 'How it ended: released by its holder, released by someone else, taken over after its lease ran out, or pushed without a lock; null while the lock is held.',
    },
    resources: {
      ...nullable({
        type: 'object',
        required: ['added', 'changed', 'removed'],
        properties: { added: { type: 'integer', minimum: 0 }, changed: { type: 'integer', minimum: 0 }, removed: { type: 'integer', minimum: 0 } },
      }),
      description: 'Resource instances added, changed (attributes differ) and removed between `base_version` and `last_version`; null when either could not be read.',
    },
    resources_unknown: { ...nullable({ type: 'string' }), description: 'Why `resources` is null (a version is encrypted, or cannot be read).' },
  },
};

export const runsPaths: Json = {
  '/states/{name}/runs': {
    get: {
      operationId: 'listRuns',
      summary: 'Runs, newest first: the versions written under one lock each, with the resources they added, changed and removed (role `read`)',
      description:
        'A version pushed without a lock is a run of its own; a lock released without a version is none. ' +
        'Built by the `runs` projection after each push is committed: as fresh as its lag in `/readyz?verbose`.',
      tags: ['history'],
      parameters: [
        parameterRef('StateName'),
        parameterRef('Limit'),
        { name: 'before', in: 'query', required: false, description: 'Runs that began before this version (the `next` of the previous page).', schema: VERSION },
        parameterRef('Format'),
      ],
      responses: {
        '200': {
          description: 'A page of runs.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name', 'runs', 'next'],
                properties: { name: { type: 'string' }, runs: { type: 'array', items: run }, next: { ...nullable(VERSION), description: 'The `before` of the next page; null on the last.' } },
              },
            },
            'text/plain': { schema: { type: 'string', description: 'The same as an aligned table.' } },
          },
        },
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '403': error('The caller has a role on the state below `read`.'),
        '404': error('The state does not exist, or the caller has no role on it.'),
        '415': responseRef('UnsupportedEncoding'),
        '429': responseRef('TooManyRequests'),
        '500': responseRef('InternalError'),
        '503': responseRef('Unavailable'),
      },
    },
  },
};
