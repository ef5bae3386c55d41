import { MAX_OUTPUT_NAME_BYTES } from '../../bodies/output-values.js';
import { parameterRef, responseRef, schemaRef } from './components.js';

/**
 * GET /states/{name}/outputs/{output} in the OpenAPI document (spread into its paths by
 * src/http/openapi.ts). Its responses list every status the guards in front of it can answer too.
 */

type Json = Record<string, unknown>;

const error = (description: string): Json => ({ description, content: { 'application/json': { schema: schemaRef('Error') } } });

const output: Json = {
  type: 'object',
  required: ['name', 'type', 'sensitive', 'value'],
  properties: {
    name: { type: 'string', description: 'The output name.' },
    type: { description: "The output's type as Terraform wrote it (`\"string\"`, `[\"list\", \"string\"]`, ...); null when absent." },
    sensitive: { type: 'boolean' },
    value: { description: 'The value, compact, every number with every digit as written.' },
  },
};

export const outputsPaths: Json = {
  '/states/{name}/outputs/{output}': {
    get: {
      operationId: 'getOutput',
      summary: "One output of the current version: its value as JSON, or bare with `Accept: text/plain` (role `outputs` or more; `read` for a sensitive one)",
      description:
        'With `Accept: text/plain`, a string output is answered as its bare text (no quotes, no newline added) and any other value as compact JSON, ' +
        "so that scripts can write `URL=$(curl -H 'Accept: text/plain' .../outputs/api_url)`. Any other Accept is answered with JSON.",
      tags: ['states'],
      parameters: [
        parameterRef('StateName'),
        {
          name: 'output',
          in: 'path',
          required: true,
          description: `The output name, percent-encoded UTF-8 (\`/\` as \`%2F\`), at most ${MAX_OUTPUT_NAME_BYTES} bytes, without NUL.`,
          schema: { type: 'string', minLength: 1 },
        },
      ],
      responses: {
        '200': {
          description: 'The output.',
          headers: { 'X-State-Version': { $ref: '#/components/headers/X-State-Version' } },
          content: {
            'application/json': { schema: output },
            'text/plain': { schema: { type: 'string', description: 'A string output as its bare text; any other value as compact JSON.' } },
          },
        },
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '403': error('A sensitive output asked for by an `outputs`-only caller (its value needs `read`); an `outputs`-only caller and an encrypted state; or too low a role.'),
        '404': error('No such output (`not_found`, naming it), no current version, no such state, or no role on it.'),
        '410': responseRef('Gone'),
        '415': responseRef('UnsupportedEncoding'),
        '422': error('`encrypted_state` (to a reader), `outputs_too_large` (outputs over 64 MiB), `unreadable_state` (also: the output is not an object).'),
        '429': responseRef('TooManyRequests'),
        '500': responseRef('InternalError'),
        '503': responseRef('Unavailable'),
      },
    },
  },
};
