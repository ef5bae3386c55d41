import t from 'tap';
import { diffStates, formatDiff, type StateDiff } from '../../src/history/state-diff.js';

interface InstanceSpec {
  readonly index_key?: number | string;
  readonly attributes: Record<string, unknown>;
  readonly schema_version?: number;
  readonly sensitive_attributes?: unknown[];
}

interface ResourceSpec {
  readonly module?: string;
  readonly mode?: 'managed' | 'data';
  readonly type: string;
  readonly name: string;
  readonly instances: readonly InstanceSpec[];
}

const resource = ({ module, mode = 'managed', type, name, instances }: ResourceSpec) => ({
  ...(module === undefined ? {} : { module }),
  mode,
  type,
  name,
  provider: 'provider["registry.terraform.io/hashicorp/aws"]',
  instances: instances.map((instance) => ({
    schema_version: 0,
    sensitive_attributes: [],
    dependencies: [],
    ...instance,
  })),
});

const state = (resources: readonly ResourceSpec[], outputs: Record<string, unknown> = {}) =>
  JSON.parse(
    JSON.stringify({
      version: 4,
      terraform_version: '1.9.8',
      serial: 1,
      lineage: 'lin-1',
      outputs,
      resources: resources.map(resource),
      check_results: null,
    }),
  ) as unknown;

const EMPTY: StateDiff = {
  resources: { added: [], removed: [], changed: [] },
  outputs: { added: [], removed: [], changed: [] },
};

const SECRET = 'hunter2-super-secret-value';

t.test('added, removed and changed resources, addressed per instance', async (t) => {
  const from = state([
    { type: 'aws_instance', name: 'web', instances: [
      { index_key: 0, attributes: { ami: 'ami-1', tags: { env: 'dev' }, id: 'i-0' } },
      { index_key: 1, attributes: { ami: 'ami-1', tags: { env: 'dev' }, id: 'i-1' } },
    ] },
    { type: 'aws_s3_bucket', name: 'logs', instances: [{ attributes: { bucket: 'logs' } }] },
    { module: 'module.vpc', type: 'aws_subnet', name: 'private', instances: [
      { index_key: 'a', attributes: { cidr_block: '10.0.1.0/24' } },
      { index_key: 'b', attributes: { cidr_block: '10.0.2.0/24' } },
    ] },
  ]);
  const to = state([
    { type: 'aws_instance', name: 'web', instances: [
      { index_key: 0, attributes: { id: 'i-0', tags: { env: 'dev' }, ami: 'ami-1' } },
      { index_key: 1, attributes: { ami: 'ami-2', tags: { env: 'prod' }, id: 'i-1' } },
      { index_key: 2, attributes: { ami: 'ami-2', tags: {}, id: 'i-2' } },
    ] },
    { mode: 'data', type: 'aws_ami', name: 'ubuntu', instances: [{ attributes: { id: 'ami-2' } }] },
    { module: 'module.vpc', type: 'aws_subnet', name: 'private', instances: [
      { index_key: 'a', attributes: { cidr_block: '10.0.1.0/24' } },
      { index_key: 'c', attributes: { cidr_block: '10.0.3.0/24' } },
    ] },
  ]);
  const diff = diffStates(from, to);
  t.same(diff.resources, {
    added: ['aws_instance.web[2]', 'data.aws_ami.ubuntu', 'module.vpc.aws_subnet.private["c"]'],
    removed: ['aws_s3_bucket.logs', 'module.vpc.aws_subnet.private["b"]'],
    changed: [{ address: 'aws_instance.web[1]', attributes: ['ami', 'tags'] }],
  });
  t.same(diff.outputs, EMPTY.outputs);
  t.equal(
    formatDiff(diff),
    [
      '+ aws_instance.web[2]',
      '+ data.aws_ami.ubuntu',
      '+ module.vpc.aws_subnet.private["c"]',
      '- aws_s3_bucket.logs',
      '- module.vpc.aws_subnet.private["b"]',
      '~ aws_instance.web[1]: ami, tags',
      '',
    ].join('\n'),
  );
});

t.test('a data source and a managed resource of the same type and name are different instances', async (t) => {
  const from = state([{ type: 'aws_ami', name: 'x', instances: [{ attributes: { id: '1' } }] }]);
  const to = state([{ mode: 'data', type: 'aws_ami', name: 'x', instances: [{ attributes: { id: '1' } }] }]);
  t.same(diffStates(from, to).resources, { added: ['data.aws_ami.x'], removed: ['aws_ami.x'], changed: [] });
});

t.test('numeric and string index keys give different addresses', async (t) => {
  const from = state([{ type: 't', name: 'n', instances: [{ index_key: 0, attributes: {} }] }]);
  const to = state([{ type: 't', name: 'n', instances: [{ index_key: '0', attributes: {} }] }]);
  t.same(diffStates(from, to).resources, { added: ['t.n["0"]'], removed: ['t.n[0]'], changed: [] });
});

t.test('string index keys are JSON-quoted', async (t) => {
  const to = state([{ type: 't', name: 'n', instances: [{ index_key: 'say "hi"', attributes: {} }] }]);
  t.same(diffStates(null, to).resources.added, ['t.n["say \\"hi\\""]']);
});

t.test('attribute comparison is deep, ignores key order, and counts one-sided keys', async (t) => {
  const from = state([{ type: 't', name: 'n', instances: [{ attributes: {
    same: { a: [1, { b: 2, c: 3 }], d: null },
    nested: { a: [1, 2] },
    arr: [1, 2],
    grown: { a: 1 },
    gone: 'x',
    nulled: 'y',
  } }] }]);
  const to = state([{ type: 't', name: 'n', instances: [{ attributes: {
    same: { d: null, a: [1, { c: 3, b: 2 }] },
    nested: { a: [1, 3] },
    arr: [1, 2, 3],
    grown: { a: 1, b: 2 },
    nulled: null,
    fresh: false,
  } }] }]);
  t.same(diffStates(from, to).resources.changed, [
    { address: 't.n', attributes: ['arr', 'fresh', 'gone', 'grown', 'nested', 'nulled'] },
  ]);
});

t.test('an object and an array with the same entries differ', async (t) => {
  const from = state([{ type: 't', name: 'n', instances: [{ attributes: { v: { 0: 'a' } } }] }]);
  const to = state([{ type: 't', name: 'n', instances: [{ attributes: { v: ['a'] } }] }]);
  t.same(diffStates(from, to).resources.changed, [{ address: 't.n', attributes: ['v'] }]);
});

t.test('only attributes count: schema_version, sensitive_attributes and dependencies do not', async (t) => {
  const from = state([{ type: 't', name: 'n', instances: [{ attributes: { a: 1 }, schema_version: 0 }] }]);
  const to = state([{ type: 't', name: 'n', instances: [{ attributes: { a: 1 }, schema_version: 1, sensitive_attributes: [[{ type: 'get_attr', value: 'a' }]] }] }]);
  t.same(diffStates(from, to), EMPTY);
});

t.test('resource attribute values never appear, only their names', async (t) => {
  const from = state([
    { type: 'aws_db_instance', name: 'main', instances: [{ attributes: { password: 'old-password', port: 5432 } }] },
    { type: 'aws_iam_access_key', name: 'gone', instances: [{ attributes: { secret: SECRET } }] },
  ]);
  const to = state([
    { type: 'aws_db_instance', name: 'main', instances: [{
      attributes: { password: SECRET, port: 5432 },
      sensitive_attributes: [[{ type: 'get_attr', value: 'password' }]],
    }] },
    { type: 'aws_iam_access_key', name: 'new', instances: [{ attributes: { secret: SECRET } }] },
  ]);
  const diff = diffStates(from, to);
  t.same(diff.resources.changed, [{ address: 'aws_db_instance.main', attributes: ['password'] }]);
  const json = JSON.stringify(diff);
  const text = formatDiff(diff);
  t.notOk(json.includes(SECRET), 'no secret in the JSON diff');
  t.notOk(json.includes('old-password'), 'no old value in the JSON diff');
  t.notOk(text.includes(SECRET), 'no secret in the listing');
  t.notOk(text.includes('old-password'), 'no old value in the listing');
  t.match(text, /^~ aws_db_instance\.main: password$/m);
  t.match(text, /^\+ aws_iam_access_key\.new$/m);
  t.match(text, /^- aws_iam_access_key\.gone$/m);
});

t.test('outputs: added, removed and changed, values shown unless sensitive', async (t) => {
  const from = state([], {
    greeting: { value: 'hello', type: 'string' },
    old: { value: 'bye', type: 'string' },
    old_secret: { value: SECRET, type: 'string', sensitive: true },
    token: { value: SECRET, type: 'string', sensitive: true },
    unchanged: { value: { a: [1, 2], b: 'x' }, type: ['object', {}] },
    becomes_secret: { value: 'plain-before', type: 'string' },
    becomes_public: { value: 'hidden-before', type: 'string', sensitive: true },
    same_value_now_secret: { value: 'v', type: 'string' },
  });
  const to = state([], {
    greeting: { value: 'bonjour', type: 'string' },
    db_password: { value: SECRET, type: 'string', sensitive: true },
    list: { value: [1, 'two'], type: ['tuple', ['number', 'string']] },
    token: { value: `${SECRET}-rotated`, type: 'string', sensitive: true },
    unchanged: { value: { b: 'x', a: [1, 2] }, type: ['object', {}] },
    becomes_secret: { value: 'secret-after', type: 'string', sensitive: true },
    becomes_public: { value: 'public-after', type: 'string', sensitive: false },
    same_value_now_secret: { value: 'v', type: 'string', sensitive: true },
  });
  const diff = diffStates(from, to);
  t.same(diff.resources, EMPTY.resources);
  t.same(diff.outputs, {
    added: [
      { name: 'db_password', sensitive: true },
      { name: 'list', sensitive: false, value: [1, 'two'] },
    ],
    removed: [
      { name: 'old', sensitive: false },
      { name: 'old_secret', sensitive: true },
    ],
    changed: [
      { name: 'becomes_public', sensitive: true },
      { name: 'becomes_secret', sensitive: true },
      { name: 'greeting', sensitive: false, before: 'hello', after: 'bonjour' },
      { name: 'same_value_now_secret', sensitive: true },
      { name: 'token', sensitive: true },
    ],
  });
  // t.same ignores missing vs undefined; the keys themselves must be absent.
  const added = diff.outputs.added.find((o) => o.name === 'db_password');
  t.notOk(added && 'value' in added, 'sensitive added output has no value key');
  for (const change of diff.outputs.changed.filter((o) => o.sensitive)) {
    t.notOk('before' in change || 'after' in change, `${change.name} has no before/after keys`);
  }
  for (const removed of diff.outputs.removed) t.notOk('value' in removed, `${removed.name} has no value key`);

  const text = formatDiff(diff);
  t.equal(
    text,
    [
      '+ output.db_password = (sensitive)',
      '+ output.list = [1,"two"]',
      '- output.old',
      '- output.old_secret',
      '~ output.becomes_public: (sensitive)',
      '~ output.becomes_secret: (sensitive)',
      '~ output.greeting: "hello" -> "bonjour"',
      '~ output.same_value_now_secret: (sensitive)',
      '~ output.token: (sensitive)',
      '',
    ].join('\n'),
  );
  for (const hidden of [SECRET, 'plain-before', 'secret-after', 'hidden-before', 'public-after', 'bye']) {
    t.notOk(JSON.stringify(diff).includes(hidden), `${hidden} not in the JSON diff`);
    t.notOk(text.includes(hidden), `${hidden} not in the listing`);
  }
});

t.test('from === null: everything in `to` is added', async (t) => {
  const to = state(
    [
      { type: 'aws_instance', name: 'web', instances: [{ index_key: 1, attributes: { ami: SECRET } }, { index_key: 0, attributes: {} }] },
      { module: 'module.a', mode: 'data', type: 'aws_ami', name: 'u', instances: [{ attributes: {} }] },
    ],
    { greeting: { value: 'hello', type: 'string' }, pw: { value: SECRET, type: 'string', sensitive: true } },
  );
  const diff = diffStates(null, to);
  t.same(diff, {
    resources: { added: ['aws_instance.web[0]', 'aws_instance.web[1]', 'module.a.data.aws_ami.u'], removed: [], changed: [] },
    outputs: {
      added: [
        { name: 'greeting', sensitive: false, value: 'hello' },
        { name: 'pw', sensitive: true },
      ],
      removed: [],
      changed: [],
    },
  });
  t.equal(
    formatDiff(diff),
    '+ aws_instance.web[0]\n+ aws_instance.web[1]\n+ module.a.data.aws_ami.u\n+ output.greeting = "hello"\n+ output.pw = (sensitive)\n',
  );
  t.notOk(formatDiff(diff).includes(SECRET));
  t.notOk(JSON.stringify(diff).includes(SECRET));
});

t.test('identical states give an empty diff and "no changes"', async (t) => {
  const make = () =>
    state(
      [{ module: 'module.m', type: 't', name: 'n', instances: [{ index_key: 'k', attributes: { a: { b: [1] } } }] }],
      { o: { value: 1, type: 'number' }, s: { value: 'x', type: 'string', sensitive: true } },
    );
  const diff = diffStates(make(), make());
  t.same(diff, EMPTY);
  t.equal(formatDiff(diff), 'no changes\n');
  t.equal(formatDiff(diffStates(null, null)), 'no changes\n');
});

t.test('malformed input does not throw and counts as empty', async (t) => {
  const good = state([{ type: 't', name: 'n', instances: [{ attributes: { a: 1 } }] }], { o: { value: 1, type: 'number' } });
  const odd: unknown[] = [
    null,
    undefined,
    42,
    'state',
    [],
    {},
    { version: 4 },
    { resources: 'nope', outputs: [] },
    { resources: {}, outputs: 'nope' },
    { resources: [null, 1, 'x', {}, { type: 't' }, { type: 't', name: 'n' }, { type: 't', name: 'n', instances: 'x' }, { type: 't', name: 'n', instances: [null, 3] }] },
    { outputs: { o: null, p: 'x' } },
  ];
  for (const input of odd) {
    const label = JSON.stringify(input) ?? String(input);
    t.same(diffStates(input, good), {
      resources: { added: ['t.n'], removed: [], changed: [] },
      outputs: { added: [{ name: 'o', sensitive: false, value: 1 }], removed: [], changed: [] },
    }, `from ${label}`);
    t.same(diffStates(good, input), {
      resources: { added: [], removed: ['t.n'], changed: [] },
      outputs: { added: [], removed: [{ name: 'o', sensitive: false }], changed: [] },
    }, `to ${label}`);
    t.same(diffStates(input, input), EMPTY, `both ${label}`);
  }
});

t.test('an instance whose attributes are missing counts as having none', async (t) => {
  const from = { resources: [{ mode: 'managed', type: 't', name: 'n', instances: [{ schema_version: 0 }] }] };
  const to = state([{ type: 't', name: 'n', instances: [{ attributes: { a: 1, b: 2 } }] }]);
  t.same(diffStates(from, to).resources.changed, [{ address: 't.n', attributes: ['a', 'b'] }]);
});

t.test('lists are sorted whatever the input order', async (t) => {
  const to = state(
    [
      { type: 'z', name: 'z', instances: [{ attributes: {} }] },
      { type: 'a', name: 'b', instances: [{ index_key: 'y', attributes: {} }, { index_key: 'x', attributes: {} }] },
      { type: 'a', name: 'a', instances: [{ attributes: {} }] },
    ],
    { zeta: { value: 1, type: 'number' }, alpha: { value: 2, type: 'number' } },
  );
  const diff = diffStates(null, to);
  t.same(diff.resources.added, ['a.a', 'a.b["x"]', 'a.b["y"]', 'z.z']);
  t.same(diff.outputs.added.map((o) => o.name), ['alpha', 'zeta']);
  t.same(diffStates(to, null).resources.removed, ['a.a', 'a.b["x"]', 'a.b["y"]', 'z.z']);
});

t.test('control characters in names are escaped in the listing', async (t) => {
  const to = state([{ type: 't', name: 'evil\u001b[31m', instances: [{ attributes: {} }] }]);
  const text = formatDiff(diffStates(null, to));
  t.notOk(text.includes('\u001b'));
  t.equal(text, '+ t.evil\\u001b[31m\n');
});

t.test('values nested deeper than the limit are refused, never a stack overflow', async (t) => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 50_000; i++) deep = [deep];
  const state = (tree: unknown, output: unknown) => ({
    resources: [{ mode: 'managed', type: 'x', name: 'y', instances: [{ attributes: { tree } }] }],
    outputs: { o: { value: output } },
  });
  t.throws(() => diffStates(state(deep, 1), state([deep], 1)), { name: 'TooDeepToCompare' }, 'in a resource attribute');
  t.throws(() => diffStates(null, state(1, deep)), { name: 'TooDeepToCompare' }, 'in an output value the answer would carry');
  let shallow: unknown = 'leaf';
  for (let i = 0; i < 900; i++) shallow = [shallow];
  t.strictSame(diffStates(state(shallow, 1), state(shallow, 1)).resources.changed, [], 'equal deep values are equal');
});
