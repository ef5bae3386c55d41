/**
 * The difference between two Terraform/OpenTofu state documents (format version 4, already parsed
 * with JSON.parse), for `GET /states/NAME/diff?from=A&to=B`. Pure: no I/O.
 *
 * Resource attribute VALUES are never part of the result (they may hold secrets): a changed resource
 * instance only lists the names of its top-level attributes that differ. Output values are shown,
 * except for sensitive outputs.
 */

export interface ResourceChange {
  readonly address: string;
  readonly attributes: readonly string[];
}

/** `value` is absent when the output is sensitive. */
export interface OutputEntry {
  readonly name: string;
  readonly sensitive: boolean;
  readonly value?: unknown;
}

/** `before` / `after` are both absent when the output is sensitive on either side. */
export interface OutputChange {
  readonly name: string;
  readonly sensitive: boolean;
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface StateDiff {
  readonly resources: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly ResourceChange[];
  };
  readonly outputs: {
    /** `value` absent for sensitive outputs. */
    readonly added: readonly OutputEntry[];
    /** Never carries a value. */
    readonly removed: readonly OutputEntry[];
    readonly changed: readonly OutputChange[];
  };
}

type JsonObject = Readonly<Record<string, unknown>>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Code-unit order: stable and locale-independent. */
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** How deep a value the diff compares; deeper ones make it refuse rather than recurse. */
export const MAX_DIFF_DEPTH = 1000;

/** Thrown when a value is nested deeper than MAX_DIFF_DEPTH: the state cannot be compared. */
export class TooDeepToCompare extends Error {
  override name = 'TooDeepToCompare';
}

/**
 * Structural equality of JSON values; object key order is irrelevant. Iterative with an explicit
 * stack, so a deeply nested value (from any client) can neither overflow the call stack nor run
 * past MAX_DIFF_DEPTH.
 */
const deepEqual = (left: unknown, right: unknown): boolean => {
  const pending: Array<[unknown, unknown, number]> = [[left, right, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [a, b, depth] = next;
    if (a === b) continue;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (depth >= MAX_DIFF_DEPTH) throw new TooDeepToCompare();
    if (Array.isArray(a) || Array.isArray(b)) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) pending.push([a[i], b[i], depth + 1]);
      continue;
    }
    const x = a as JsonObject;
    const y = b as JsonObject;
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    for (const key of keys) {
      if (!Object.hasOwn(y, key)) return false;
      pending.push([x[key], y[key], depth + 1]);
    }
  }
  return true;
};

/** Refuses a value the answer would carry if it is nested too deep to be written back as JSON safely. */
const checkDepth = (value: unknown): unknown => {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= MAX_DIFF_DEPTH) throw new TooDeepToCompare();
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return value;
};

const indexSuffix = (indexKey: unknown): string => {
  if (typeof indexKey === 'number') return `[${indexKey}]`;
  if (typeof indexKey === 'string') return `[${JSON.stringify(indexKey)}]`;
  return '';
};

/** Every resource instance of a state by address, with its attributes (`{}` when missing or ill-typed). */
const instancesOf = (state: unknown): Map<string, JsonObject> => {
  const instances = new Map<string, JsonObject>();
  const resources = isObject(state) ? state['resources'] : undefined;
  if (!Array.isArray(resources)) return instances;
  for (const resource of resources as readonly unknown[]) {
    if (!isObject(resource)) continue;
    const { module, mode, type, name } = resource;
    if (typeof type !== 'string' || typeof name !== 'string') continue;
    const base = `${typeof module === 'string' && module !== '' ? `${module}.` : ''}${mode === 'data' ? 'data.' : ''}${type}.${name}`;
    const list = resource['instances'];
    if (!Array.isArray(list)) continue;
    for (const instance of list as readonly unknown[]) {
      if (!isObject(instance)) continue;
      const address = base + indexSuffix(instance['index_key']);
      const attributes = instance['attributes'];
      // A malformed state may repeat an address: the first occurrence counts.
      if (!instances.has(address)) instances.set(address, isObject(attributes) ? attributes : {});
    }
  }
  return instances;
};

interface Output {
  readonly value: unknown;
  readonly sensitive: boolean;
}

const outputsOf = (state: unknown): Map<string, Output> => {
  const outputs = new Map<string, Output>();
  const raw = isObject(state) ? state['outputs'] : undefined;
  if (!isObject(raw)) return outputs;
  for (const name of Object.keys(raw)) {
    const output = raw[name];
    if (!isObject(output)) continue;
    outputs.set(name, { value: output['value'], sensitive: output['sensitive'] === true });
  }
  return outputs;
};

const changedAttributes = (before: JsonObject, after: JsonObject): string[] => {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names]
    .filter((key) => Object.hasOwn(before, key) !== Object.hasOwn(after, key) || !deepEqual(before[key], after[key]))
    .sort(byString);
};

/**
 * `from === null` means "no earlier version": everything in `to` is added. Odd input is no error:
 * missing or ill-typed `resources` / `outputs` (and malformed entries in them) count as empty.
 * Throws TooDeepToCompare for values nested deeper than MAX_DIFF_DEPTH.
 */
export const diffStates = (from: unknown, to: unknown): StateDiff => {
  const beforeInstances = instancesOf(from);
  const afterInstances = instancesOf(to);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: ResourceChange[] = [];
  for (const [address, attributes] of afterInstances) {
    const previous = beforeInstances.get(address);
    if (previous === undefined) {
      added.push(address);
      continue;
    }
    const names = changedAttributes(previous, attributes);
    if (names.length > 0) changed.push({ address, attributes: names });
  }
  for (const address of beforeInstances.keys()) if (!afterInstances.has(address)) removed.push(address);

  const beforeOutputs = outputsOf(from);
  const afterOutputs = outputsOf(to);
  const outputsAdded: OutputEntry[] = [];
  const outputsRemoved: OutputEntry[] = [];
  const outputsChanged: OutputChange[] = [];
  for (const [name, output] of afterOutputs) {
    const previous = beforeOutputs.get(name);
    if (previous === undefined) {
      outputsAdded.push(output.sensitive ? { name, sensitive: true } : { name, sensitive: false, value: checkDepth(output.value) });
    } else if (previous.sensitive !== output.sensitive || !deepEqual(previous.value, output.value)) {
      const sensitive = previous.sensitive || output.sensitive;
      outputsChanged.push(sensitive ? { name, sensitive } : { name, sensitive, before: checkDepth(previous.value), after: checkDepth(output.value) });
    }
  }
  for (const [name, output] of beforeOutputs) {
    if (!afterOutputs.has(name)) outputsRemoved.push({ name, sensitive: output.sensitive });
  }

  const byAddress = (a: { readonly address: string }, b: { readonly address: string }) => byString(a.address, b.address);
  const byName = (a: { readonly name: string }, b: { readonly name: string }) => byString(a.name, b.name);
  return {
    resources: { added: added.sort(byString), removed: removed.sort(byString), changed: changed.sort(byAddress) },
    outputs: { added: outputsAdded.sort(byName), removed: outputsRemoved.sort(byName), changed: outputsChanged.sort(byName) },
  };
};

/** JSON text of an output value; `null` for a missing one. */
const json = (value: unknown): string => JSON.stringify(value) ?? 'null';

/** Control characters (from names in an uploaded state) must not reach a terminal raw. */
const printable = (line: string): string =>
  line.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * The `+ / - / ~` listing for terminals, one line per change, resources first then outputs, each
 * line ending with a newline; `no changes\n` when the diff is empty.
 */
export const formatDiff = (diff: StateDiff): string => {
  const lines = [
    ...diff.resources.added.map((address) => `+ ${address}`),
    ...diff.resources.removed.map((address) => `- ${address}`),
    ...diff.resources.changed.map(({ address, attributes }) => `~ ${address}: ${attributes.join(', ')}`),
    ...diff.outputs.added.map(
      (output) => `+ output.${output.name} = ${output.sensitive ? '(sensitive)' : json(output.value)}`,
    ),
    ...diff.outputs.removed.map((output) => `- output.${output.name}`),
    ...diff.outputs.changed.map(
      (output) =>
        `~ output.${output.name}: ${output.sensitive ? '(sensitive)' : `${json(output.before)} -> ${json(output.after)}`}`,
    ),
  ];
  return lines.length === 0 ? 'no changes\n' : `${lines.map(printable).join('\n')}\n`;
};
