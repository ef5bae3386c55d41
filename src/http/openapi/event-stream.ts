import { DEFAULT_HEARTBEAT_SECONDS, MAX_HEARTBEAT_SECONDS } from '../event-stream.js';
import { responseRef, schemaRef } from './components.js';

/**
 * GET /events/stream in the OpenAPI document (spread into its paths by src/http/openapi.ts). Its
 * responses list every status the guards in front of it can answer too.
 */

type Json = Record<string, unknown>;

const error = (description: string): Json => ({ description, content: { 'application/json': { schema: schemaRef('Error') } } });

const POSITION = { type: 'integer', minimum: 0, maximum: 999999999999999 };

export const eventStreamPaths: Json = {
  '/events/stream': {
    get: {
      operationId: 'eventStream',
      summary: 'Server-Sent Events: every new event the caller may read (and of `$access` for access administrators), as it happens, from any server process',
      description:
        'A `text/event-stream` that stays open. Each event is one message: `id:` its global position, `data:` the event as one JSON line, the same object as an entry of `GET /events`. ' +
        'Events come in the order of the global feed (commit order, only transactions older than every running one), so resuming after the last `id:` received ' +
        '(`Last-Event-ID`, which EventSource sends by itself when it reconnects, or `?after=`) misses and repeats nothing. ' +
        'Without a cursor the stream starts at the present; its first lines are a comment and an `id:` naming that position. ' +
        `A comment line (\`: heartbeat\`) comes every \`heartbeat\` seconds (${DEFAULT_HEARTBEAT_SECONDS} by default). ` +
        'The server ends a stream with a last comment (`: closed: <why>`) when the client reads too slowly, when its credentials or its grant on `state` are revoked (checked again at once after any access change, and every 30 s), or when the server shuts down: reconnect with `Last-Event-ID` to resume. ' +
        'Grants changed while the stream is open apply to the events that follow.',
      tags: ['audit'],
      parameters: [
        {
          name: 'after',
          in: 'query',
          required: false,
          description: 'Start after this position (as `GET /events` reads it), or `now` (the default). `Last-Event-ID` wins over it.',
          schema: { oneOf: [POSITION, { const: 'now' }], default: 'now' },
        },
        {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          description: 'The `id:` of the last message received: the stream resumes after it.',
          schema: { type: 'string', pattern: '^\\d{1,15}$' },
        },
        {
          name: 'state',
          in: 'query',
          required: false,
          description: 'Only the events of this state (which the caller must be able to read: 404 otherwise, as for every route of one state). It need not exist yet.',
          schema: { type: 'string', minLength: 1, maxLength: 512 },
        },
        {
          name: 'prefix',
          in: 'query',
          required: false,
          description: 'Only the events of states whose names start with this (`team-a/` for one subtree of nested names); not with `state`.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._/-]{0,512}$' },
        },
        {
          name: 'heartbeat',
          in: 'query',
          required: false,
          description: `Seconds between heartbeat comments (at most half the server's IDLE_TIMEOUT_SECONDS).`,
          schema: { type: 'integer', minimum: 1, maximum: MAX_HEARTBEAT_SECONDS, default: DEFAULT_HEARTBEAT_SECONDS },
        },
      ],
      responses: {
        '200': {
          description: 'The stream (HEAD: its headers only).',
          content: {
            'text/event-stream': {
              schema: { type: 'string', description: 'Messages `id: <position>` + `data: <event JSON>`, comment lines starting with `:`.' },
              examples: {
                lock: { value: ': events after position 41; a heartbeat every 15 s\nid: 41\n\nid: 42\ndata: {"position":42,"state":"team-a/network","stream_version":7,"type":"StateLocked",...}\n\n: heartbeat\n\n' },
              },
            },
          },
        },
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '403': error('`state` names a state on which the caller has only the `outputs` role.'),
        '404': error('`state` names a state the caller has no role on (whether or not it exists).'),
        '415': responseRef('UnsupportedEncoding'),
        '429': responseRef('TooManyRequests'),
        '500': responseRef('InternalError'),
        '503': responseRef('Unavailable'),
      },
    },
  },
};
