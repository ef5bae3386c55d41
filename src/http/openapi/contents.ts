import { parameterRef, responseRef } from './components.js';

/**
 * GET /resources in the OpenAPI document (spread into its paths by src/http/openapi.ts): the
 * resource search over the contents index. Its responses list every status the guards in front
 * of it can answer too.
 */

type Json = Record<string, unknown>;

const filter = (name: string, description: string): Json => ({
  name,
  in: 'query',
  required: false,
  description: `${description} Exact, or by prefix when the value ends with \`*\`. At most 1024 characters.`,
  schema: { type: 'string', maxLength: 1024 },
});

const resource: Json = {
  type: 'object',
  required: ['state', 'version', 'address', 'resource_address', 'mode', 'type', 'name', 'module', 'provider', 'index_key', 'id'],
  properties: {
    state: { type: 'string', description: 'The state that manages it.' },
    version: { type: 'integer', minimum: 1, description: 'The current version the index read.' },
    address: { type: 'string', description: 'The instance address: `module.net["eu"].aws_subnet.private["a"]`.' },
    resource_address: { type: 'string', description: 'Its resource: `module.net["eu"].aws_subnet.private` (`data.` before a data source).' },
    mode: { type: 'string', description: '`managed` or `data`.' },
    type: { type: 'string' },
    name: { type: 'string' },
    module: { type: 'string', description: "'' for the root module." },
    provider: { type: 'string', description: 'As the state writes it: `provider["registry.terraform.io/hashicorp/aws"]`.' },
    index_key: { description: 'The count index (integer) or for_each key (string); null for a single instance.', oneOf: [{ type: 'integer' }, { type: 'string' }, { type: 'null' }] },
    id: { description: 'Its `id` attribute (null when absent or over 4 KiB).', oneOf: [{ type: 'string' }, { type: 'null' }] },
  },
};

export const contentsPaths: Json = {
  '/resources': {
    get: {
      operationId: 'searchResources',
      summary: 'Resource instances of the current versions of every state the caller may read (role `read`), from the contents index',
      description:
        'As fresh as the contents index: its lag is in `/readyz?verbose`. Filters combine with AND. ' +
        '`address=aws_s3_bucket.logs` matches that resource (every instance) or that instance exactly; `address=aws_s3_bucket.*` every instance address starting so. ' +
        'Ordered by state, then place in the document; paged with `limit` and `after`.',
      tags: ['states'],
      parameters: [
        filter('type', 'The resource type (`aws_s3_bucket`).'),
        filter('address', 'The instance address or its resource address.'),
        filter('id', 'The `id` attribute (`i-0abc`).'),
        filter('provider', 'The provider as the state writes it.'),
        filter('module', "The module path (`module.network`); '' for the root module."),
        filter('state', 'The state name.'),
        parameterRef('Limit'),
        { name: 'after', in: 'query', required: false, description: 'The `next` of the previous page.', schema: { type: 'string' } },
        parameterRef('Format'),
      ],
      responses: {
        '200': {
          description: 'A page of resource instances.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['resources', 'next'],
                properties: { resources: { type: 'array', items: resource }, next: { oneOf: [{ type: 'string' }, { type: 'null' }], description: 'The `after` of the next page; null on the last.' } },
              },
            },
            'text/plain': { schema: { type: 'string', description: 'The same as an aligned table.' } },
          },
        },
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '415': responseRef('UnsupportedEncoding'),
        '429': responseRef('TooManyRequests'),
        '500': responseRef('InternalError'),
        '503': responseRef('Unavailable'),
      },
    },
  },
};
