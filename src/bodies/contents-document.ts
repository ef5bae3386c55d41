/**
 * What a state holds, for the contents index: every resource instance (address, mode, type, name,
 * module, provider, index key, `id` attribute) and every root output (name, type, sensitive).
 *
 * Read from a stored body of any size in one pass. The bytes go through JsonScanner, which judges
 * the document (any error: unreadable), and through a small path tracker here, which follows only
 * the containers on the way to those fields (root, resources, each resource, its instances, each
 * instance, its attributes, outputs, each output) and skips everything else bracket by bracket.
 * Strings are skipped with indexOf, never built; only the few fields above are kept, each capped
 * at FIELD_BYTES, with a digest of each instance's attributes (to tell which instances changed
 * between two versions). Memory is the extracted index (capped at maxIndexBytes), never the body.
 */

import { isStorable } from '../events/storable-string.js';
import { AttributesDigest } from './attributes-digest.js';
import { JsonScanner, type RawBytes } from './json-scanner.js';
import { keyIs } from './state-document.js';

export interface IndexedInstance {
  /** The instance's address: `module.a.aws_s3_bucket.logs["x"]`. */
  readonly address: string;
  /** Its resource's address: `module.a.aws_s3_bucket.logs` (`data.` before a data source's type). */
  readonly resourceAddress: string;
  readonly mode: string;
  readonly type: string;
  readonly name: string;
  /** '' for the root module. */
  readonly module: string;
  readonly provider: string;
  /** count index (number), for_each key (string), or null for a single instance. */
  readonly indexKey: string | number | null;
  /** The `id` attribute as text (null when absent, not a string or number, or longer than FIELD_BYTES). */
  readonly id: string | null;
  /** A digest of its `attributes` (see AttributesDigest); null when they are not an object. */
  readonly attributesDigest: string | null;
}

export interface IndexedOutput {
  readonly name: string;
  /** The type as Terraform wrote it (`"string"`, `["list","string"]`); null when absent or too long. */
  readonly type: unknown;
  readonly sensitive: boolean;
}

export interface StateContents {
  /** Entries of `resources` (resource blocks, data sources included). */
  readonly resources: number;
  readonly instances: readonly IndexedInstance[];
  readonly outputs: readonly IndexedOutput[];
}

export type ContentsReading =
  | { readonly kind: 'contents'; readonly contents: StateContents }
  | { readonly kind: 'encrypted' }
  | { readonly kind: 'unreadable'; readonly reason: string };

export interface ContentsOptions {
  /** Most bytes of names, addresses and ids kept for one state; past it the state is unreadable. Default 64 MiB. */
  readonly maxIndexBytes?: number;
}

export const DEFAULT_MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** Distinct texts kept for sharing per reading (beyond them, texts are simply not shared). */
const MAX_INTERNED = 10_000;
/** Longest field kept as written (quotes and escapes included); a longer id is indexed as null. */
export const FIELD_BYTES = 4096;

// Roles of the containers followed.
const SKIP = 0;
const ROOT = 1;
const RESOURCES = 2;
const RESOURCE = 3;
const INSTANCES = 4;
const INSTANCE = 5;
const ATTRIBUTES = 6;
const OUTPUTS = 7;
const OUTPUT = 8;
/** Not a container: the value is kept as written. */
const CAPTURE = 9;

/** Whether a role is an object (else an array). */
const OBJECT_ROLE = [false, true, false, true, false, true, true, true, true];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const isWhitespace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

const key = (name: string): Uint8Array => Buffer.from(JSON.stringify(name));
const KEYS = {
  resources: key('resources'),
  outputs: key('outputs'),
  encrypted_data: key('encrypted_data'),
  mode: key('mode'),
  type: key('type'),
  name: key('name'),
  module: key('module'),
  provider: key('provider'),
  instances: key('instances'),
  index_key: key('index_key'),
  attributes: key('attributes'),
  id: key('id'),
  sensitive: key('sensitive'),
};
const RESOURCE_FIELDS = ['mode', 'type', 'name', 'module', 'provider'] as const;
type ResourceField = (typeof RESOURCE_FIELDS)[number];
const RESOURCE_FIELD_KEYS = RESOURCE_FIELDS.map((name) => KEYS[name]);
const INDEX_KEY_KEYS = [KEYS.index_key];
const ID_KEYS = [KEYS.id];
const OUTPUT_FIELD_KEYS = [KEYS.type, KEYS.sensitive];

/** Bytes kept of one key or value, up to a limit, in a buffer allocated once. */
class Kept implements RawBytes {
  readonly bytes = new Uint8Array(FIELD_BYTES);
  length = 0;
  tooLong = false;

  reset(): void {
    this.length = 0;
    this.tooLong = false;
  }

  append(chunk: Uint8Array, from: number, to: number): void {
    const room = FIELD_BYTES - this.length;
    if (to - from > room) {
      this.tooLong = true;
      to = from + room;
    }
    for (let i = from; i < to; i++) this.bytes[this.length++] = chunk[i]!;
  }

  push(byte: number): void {
    if (this.length === FIELD_BYTES) this.tooLong = true;
    else this.bytes[this.length++] = byte;
  }

  /** The kept value as JSON.parse reads it; undefined when cut short or not JSON. */
  value(): unknown {
    if (this.tooLong) return undefined;
    try {
      return JSON.parse(Buffer.from(this.bytes.buffer, 0, this.length).toString('utf8'));
    } catch {
      return undefined;
    }
  }
}

/** A field kept as written: its parsed value, or TOO_LONG. */
const TOO_LONG = Symbol('too long');
type Field = unknown;

interface InstanceDraft {
  indexKey: Field;
  id: Field;
  attributesDigest: string | null;
}

interface ResourceDraft {
  fields: Partial<Record<ResourceField, Field>>;
  instances: InstanceDraft[];
}

const storable = (value: unknown): value is string => typeof value === 'string' && isStorable(value);

/** Follows the path to the indexed fields, fed the same chunks as the JsonScanner that judges the document. */
class ContentsTracker {
  /** Roles of the followed containers, innermost last. */
  private readonly roles: number[] = [];
  /** In an object followed: whether the next string is a key. */
  private expectKey = false;
  /** The role of the value that comes next in the innermost followed container. */
  private nextRole = SKIP;
  /** Which field a captured value fills (a key of the innermost object). */
  private field: Uint8Array | undefined;
  /** Depth inside a value skipped or captured whole (0: not in one). */
  private skipDepth = 0;
  private capturing = false;
  /** In a string: whether it is a key of a followed object, and whether its bytes are kept. */
  private inString = false;
  private stringIsKey = false;
  private keepString = false;
  private escaped = false;
  /** In a number or literal. */
  private inScalar = false;
  private readonly kept = new Kept();
  private readonly keyBytes = new Kept();
  private nextQuote = -2;
  private nextBackslash = -2;

  encrypted = false;
  problem: string | undefined;
  resources = 0;
  readonly instances: IndexedInstance[] = [];
  /** One copy of each mode, type, module and provider text: they repeat across thousands of resources. */
  private readonly interned = new Map<string, string>();
  private readonly outputs = new Map<string, IndexedOutput>();
  private resource: ResourceDraft | undefined;
  private instance: InstanceDraft | undefined;
  /** Fed every token byte of the attributes object being read. */
  private readonly digest = new AttributesDigest();
  private output: { name: string | undefined; type: Field; sensitive: Field } | undefined;
  private indexBytes = 0;

  constructor(private readonly maxIndexBytes: number) {}

  get outputList(): IndexedOutput[] {
    return [...this.outputs.values()];
  }

  write(chunk: Uint8Array): void {
    this.nextQuote = -2;
    this.nextBackslash = -2;
    const n = chunk.length;
    let i = 0;
    while (i < n && this.problem === undefined) {
      if (this.inString) {
        i = this.stringBytes(chunk, i);
        continue;
      }
      const b = chunk[i]!;
      if (this.inScalar) {
        if (isWhitespace(b) || b === COMMA || b === CLOSE_BRACE || b === CLOSE_BRACKET) {
          this.inScalar = false;
          this.valueEnded();
          continue; // the delimiter is read next
        }
        if (this.capturing) this.kept.push(b);
        if (this.digest.active) this.digest.push(b);
        i++;
        continue;
      }
      if (isWhitespace(b)) {
        i++;
        continue;
      }
      if (this.digest.active) this.digest.push(b);
      if (this.skipDepth > 0) {
        if (this.capturing) this.kept.push(b);
        if (b === QUOTE) this.beginString(false, this.capturing);
        else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.skipDepth++;
        else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && --this.skipDepth === 0) this.valueEnded();
        i++;
        continue;
      }
      i++;
      switch (b) {
        case QUOTE:
          if (this.expectKey && this.inObject()) {
            this.keyBytes.reset();
            this.keyBytes.push(b);
            this.beginString(true, true);
          } else {
            this.valueBegins();
            if (this.capturing) this.kept.push(b);
            this.beginString(false, this.capturing);
          }
          break;
        case COLON:
          this.expectKey = false;
          break;
        case COMMA:
          this.expectKey = this.inObject();
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          this.containerBegins(b === OPEN_BRACE);
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          this.containerEnds();
          break;
        default:
          this.valueBegins();
          if (this.capturing) this.kept.push(b);
          this.inScalar = true;
      }
    }
  }

  /** The end of input: a number still open at the end is complete. */
  end(): void {
    if (this.inScalar) {
      this.inScalar = false;
      this.valueEnded();
    }
  }

  private inObject(): boolean {
    const role = this.roles[this.roles.length - 1];
    return role !== undefined && OBJECT_ROLE[role] === true;
  }

  private beginString(isKey: boolean, keep: boolean): void {
    this.inString = true;
    this.stringIsKey = isKey;
    this.keepString = keep;
    this.escaped = false;
  }

  /** Reads string bytes from `i` (indexOf finds the quotes and backslashes); returns where it stopped. */
  private stringBytes(chunk: Uint8Array, i: number): number {
    const into = this.stringIsKey ? this.keyBytes : this.kept;
    if (this.escaped) {
      this.escaped = false;
      if (this.keepString) into.push(chunk[i]!);
      if (this.digest.active) this.digest.push(chunk[i]!);
      return i + 1;
    }
    if (this.nextQuote !== -1 && this.nextQuote < i) this.nextQuote = chunk.indexOf(QUOTE, i);
    if (this.nextBackslash !== -1 && this.nextBackslash < i) this.nextBackslash = chunk.indexOf(BACKSLASH, i);
    const quote = this.nextQuote;
    const backslash = this.nextBackslash;
    const open = quote === -1 && backslash === -1;
    const escape = !open && backslash !== -1 && (quote === -1 || backslash < quote);
    const end = open ? chunk.length : escape ? backslash + 1 : quote + 1;
    if (this.keepString) into.append(chunk, i, end);
    if (this.digest.active) this.digest.append(chunk, i, end);
    if (open) return end;
    if (escape) {
      this.escaped = true;
      return end;
    }
    this.inString = false;
    if (this.stringIsKey) this.keyEnded();
    else if (this.skipDepth === 0) this.valueEnded();
    return end;
  }

  /** A value starts in the innermost followed container: skipped, captured or (for a scalar) passed over. */
  private valueBegins(): void {
    const role = this.roleOfNext();
    this.capturing = role === CAPTURE;
    if (this.capturing) this.kept.reset();
  }

  /** The role of the next value: an array's elements have their own, an object's values the key's. */
  private roleOfNext(): number {
    const parent = this.roles[this.roles.length - 1];
    if (parent === RESOURCES) return RESOURCE;
    if (parent === INSTANCES) return INSTANCE;
    if (parent === undefined || !OBJECT_ROLE[parent]) return parent === undefined ? ROOT : SKIP;
    return this.nextRole;
  }

  private containerBegins(isObject: boolean): void {
    const role = this.roleOfNext();
    if (role === CAPTURE) {
      this.capturing = true;
      this.kept.reset();
      this.kept.push(isObject ? OPEN_BRACE : OPEN_BRACKET);
      this.skipDepth = 1;
      return;
    }
    if (role === SKIP || OBJECT_ROLE[role] !== isObject || this.roles.length >= 8) {
      this.capturing = false;
      this.skipDepth = 1;
      return;
    }
    this.roles.push(role);
    this.expectKey = isObject;
    this.nextRole = SKIP;
    if (role === RESOURCE) this.resource = { fields: {}, instances: [] };
    else if (role === INSTANCE) this.instance = { indexKey: undefined, id: undefined, attributesDigest: null };
    else if (role === ATTRIBUTES) {
      this.digest.begin();
      this.digest.push(OPEN_BRACE);
    }
    else if (role === INSTANCES && this.resource !== undefined) this.resource.instances = [];
  }

  private containerEnds(): void {
    const role = this.roles.pop();
    if (role === RESOURCE) this.resourceEnded();
    else if (role === ATTRIBUTES) {
      const digest = this.digest.end();
      if (this.instance !== undefined) this.instance.attributesDigest = digest;
    } else if (role === INSTANCE && this.instance !== undefined) {
      this.resource?.instances.push(this.instance);
      this.instance = undefined;
    } else if (role === OUTPUT) this.outputEnded();
    this.valueEnded();
  }

  /** A key of the innermost followed object is complete: what its value is to us. */
  private keyEnded(): void {
    const k = this.keyBytes;
    const role = this.roles[this.roles.length - 1];
    this.nextRole = SKIP;
    this.field = undefined;
    switch (role) {
      case ROOT:
        if (keyIs(k, KEYS.resources)) {
          // JSON.parse lets a repeated key win: so do we.
          this.nextRole = RESOURCES;
          this.resources = 0;
          this.instances.length = 0;
          this.indexBytes = this.outputsBytes();
        } else if (keyIs(k, KEYS.outputs)) {
          this.nextRole = OUTPUTS;
          this.outputs.clear();
        } else if (keyIs(k, KEYS.encrypted_data)) {
          this.encrypted = true;
        }
        return;
      case RESOURCE:
        if (keyIs(k, KEYS.instances)) this.nextRole = INSTANCES;
        else this.captureFor(k, RESOURCE_FIELD_KEYS);
        return;
      case INSTANCE:
        if (keyIs(k, KEYS.attributes)) this.nextRole = ATTRIBUTES;
        else this.captureFor(k, INDEX_KEY_KEYS);
        return;
      case ATTRIBUTES:
        this.captureFor(k, ID_KEYS);
        return;
      case OUTPUTS: {
        const name = k.value();
        this.output = { name: storable(name) ? name : undefined, type: undefined, sensitive: undefined };
        this.nextRole = OUTPUT;
        return;
      }
      case OUTPUT:
        this.captureFor(k, OUTPUT_FIELD_KEYS);
        return;
      default:
        return;
    }
  }

  private captureFor(k: RawBytes, wanted: readonly Uint8Array[]): void {
    for (const expected of wanted) {
      if (keyIs(k, expected)) {
        this.nextRole = CAPTURE;
        this.field = expected;
        return;
      }
    }
  }

  /** A value of the innermost followed container is complete. */
  private valueEnded(): void {
    if (!this.capturing) return;
    this.capturing = false;
    const value = this.kept.tooLong ? TOO_LONG : this.kept.value();
    const field = this.field;
    const role = this.roles[this.roles.length - 1];
    if (role === RESOURCE && this.resource !== undefined) {
      const name = RESOURCE_FIELDS.find((f) => KEYS[f] === field);
      if (name !== undefined) this.resource.fields[name] = value;
    } else if (role === INSTANCE && this.instance !== undefined) {
      this.instance.indexKey = value;
    } else if (role === ATTRIBUTES && this.instance !== undefined) {
      this.instance.id = value;
    } else if (role === OUTPUT && this.output !== undefined) {
      if (field === KEYS.type) this.output.type = value;
      else this.output.sensitive = value;
    }
  }

  private resourceEnded(): void {
    const draft = this.resource;
    this.resource = undefined;
    if (draft === undefined) return;
    this.resources++;
    const text = (name: ResourceField, required: boolean): string | undefined => {
      const value = draft.fields[name];
      if ((value === undefined || value === null) && !required) return '';
      if (storable(value)) return value;
      this.problem ??= `resource ${this.resources} has no ${name} as a string of at most ${FIELD_BYTES} bytes`;
      return undefined;
    };
    const mode = this.intern(text('mode', true));
    const type = this.intern(text('type', true));
    const name = text('name', true);
    const module = this.intern(text('module', false));
    const provider = this.intern(text('provider', true));
    if (mode === undefined || type === undefined || name === undefined || module === undefined || provider === undefined) return;
    const resourceAddress = `${module === '' ? '' : `${module}.`}${mode === 'data' ? 'data.' : ''}${type}.${name}`;
    for (const instance of draft.instances) {
      const indexKey = typeof instance.indexKey === 'number' || storable(instance.indexKey) ? instance.indexKey : null;
      const id = typeof instance.id === 'number' ? String(instance.id) : storable(instance.id) ? instance.id : null;
      const address = indexKey === null ? resourceAddress : `${resourceAddress}[${JSON.stringify(indexKey)}]`;
      this.indexBytes += 2 * address.length + mode.length + type.length + name.length + module.length + provider.length + (id?.length ?? 0) + 96;
      if (this.indexBytes > this.maxIndexBytes) {
        this.problem ??= `its resources are too many to index (over ${this.maxIndexBytes} bytes of addresses and ids)`;
        return;
      }
      this.instances.push({ address, resourceAddress, mode, type, name, module, provider, indexKey, id, attributesDigest: instance.attributesDigest });
    }
  }

  private intern(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.interned.get(value);
    if (known !== undefined) return known;
    if (this.interned.size < MAX_INTERNED) this.interned.set(value, value);
    return value;
  }

  private outputEnded(): void {
    const draft = this.output;
    this.output = undefined;
    if (draft?.name === undefined) return;
    let type: unknown = draft.type === TOO_LONG ? null : (draft.type ?? null);
    if (type !== null && !isStorable(JSON.stringify(type))) type = null;
    this.outputs.set(draft.name, { name: draft.name, type, sensitive: draft.sensitive === true });
    this.indexBytes += draft.name.length + 256;
    if (this.indexBytes > this.maxIndexBytes) this.problem ??= `its outputs are too many to index (over ${this.maxIndexBytes} bytes)`;
  }

  private outputsBytes(): number {
    let bytes = 0;
    for (const output of this.outputs.values()) bytes += output.name.length + 256;
    return bytes;
  }
}

/**
 * The contents of a stored body, read chunk by chunk (see the file's comment). Encrypted when the
 * root holds `encrypted_data`; unreadable, with the reason, when it is not a valid state document
 * whose resources have a mode, type, name and provider. An error from `source` rejects.
 */
export const readStateContents = async (source: AsyncIterable<Uint8Array>, options: ContentsOptions = {}): Promise<ContentsReading> => {
  const scanner = new JsonScanner();
  const tracker = new ContentsTracker(options.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES);
  for await (const chunk of source) {
    scanner.write(chunk);
    const root = scanner.rootKind;
    if (root !== undefined && root !== 'object') return { kind: 'unreadable', reason: 'the state is not a JSON object' };
    if (scanner.error !== undefined) return { kind: 'unreadable', reason: scanner.error };
    tracker.write(chunk);
    if (tracker.problem !== undefined) return { kind: 'unreadable', reason: tracker.problem };
  }
  const error = scanner.end();
  if (error !== undefined) return { kind: 'unreadable', reason: error };
  tracker.end();
  if (tracker.encrypted) return { kind: 'encrypted' };
  if (tracker.problem !== undefined) return { kind: 'unreadable', reason: tracker.problem };
  return { kind: 'contents', contents: { resources: tracker.resources, instances: tracker.instances, outputs: tracker.outputList } };
};
