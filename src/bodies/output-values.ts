/**
 * The outputs of a state, one by one: redaction of sensitive values, and one output's type and
 * value. These work on the root `outputs` value as outputs-document.ts holds it (bytes as written,
 * at most its 64 MiB limit, already validated) with the streaming scanner, so nothing is ever
 * parsed into JavaScript values: a number keeps every digit, and every byte kept is copied as written.
 */

import { JsonScanner, type JsonKind, type RawBytes, type RootMember, type RootMemberListener } from './json-scanner.js';
import { keyIs } from './state-document.js';

/** Longest output name looked up, in bytes of UTF-8. */
export const MAX_OUTPUT_NAME_BYTES = 1024;

/** Longest raw key that can name an output of MAX_OUTPUT_NAME_BYTES: every byte escaped (`\u0041`, 6 bytes), and the quotes. */
const MAX_NAME_KEY_BYTES = 6 * MAX_OUTPUT_NAME_BYTES + 2;
/** Enough for `"value"`, `"type"` and `"sensitive"` even with every character escaped. */
const MAX_FIELD_KEY_BYTES = 64;

const VALUE_KEY = Buffer.from('"value"');
const TYPE_KEY = Buffer.from('"type"');
const SENSITIVE_KEY = Buffer.from('"sensitive"');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LOWER_T = 0x74;
const isWhitespace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

type Field = 'value' | 'type' | 'sensitive' | undefined;

const fieldOf = (key: RawBytes): Field => {
  if (keyIs(key, VALUE_KEY)) return 'value';
  if (keyIs(key, TYPE_KEY)) return 'type';
  if (keyIs(key, SENSITIVE_KEY)) return 'sensitive';
  return undefined;
};

/** One member of an output object: what its key names, its value, and where the member begins after the separator before it. */
interface Member {
  readonly field: Field;
  readonly kind: JsonKind;
  readonly start: number;
  readonly end: number;
  /** Just after the `{` (first member) or the `,` before it: the member's whitespace, key, colon and value run to `end`. */
  readonly from: number;
}

/** An output object's members, read by a scanner of its own over `bytes` (one valid JSON object). */
class OutputMembers implements RootMemberListener {
  readonly members: Member[] = [];
  private field: Field;

  constructor(private readonly bytes: Uint8Array) {
    const scanner = new JsonScanner({ listener: this, maxCaptureBytes: MAX_FIELD_KEY_BYTES });
    scanner.write(bytes);
    const error = scanner.end();
    // The bytes were validated as part of the whole state: a failure here is a bug.
    if (error !== undefined) throw new Error(`an output that was valid JSON no longer scans: ${error}`);
  }

  onKey(key: RawBytes): number {
    this.field = fieldOf(key);
    return 0;
  }

  onValue(member: RootMember): void {
    const previous = this.members.at(-1);
    let from = 1; // after the '{' at 0
    if (previous !== undefined) {
      from = previous.end;
      while (this.bytes[from] !== COMMA) from++; // only whitespace stands before it
      from++;
    }
    this.members.push({ field: this.field, kind: member.kind, start: member.start, end: member.end, from });
  }

  /** The last member naming `field` (JSON.parse lets a repeated key win, and so does Terraform). */
  last(field: Exclude<Field, undefined>): Member | undefined {
    for (let i = this.members.length - 1; i >= 0; i--) if (this.members[i]!.field === field) return this.members[i];
    return undefined;
  }

  /**
   * Terraform writes `"sensitive": true` or nothing. `false`, `null` and absence count as not
   * sensitive; anything else (a string, a number: no Terraform wrote it) as sensitive, so that an
   * odd state errs on the side of hiding.
   */
  get sensitive(): boolean {
    const member = this.last('sensitive');
    if (member === undefined || member.kind === 'null') return false;
    return member.kind !== 'boolean' || this.bytes[member.start] === LOWER_T;
  }
}

/** Bytes copied into one buffer allocated once, as large as the input (redaction only removes). */
class Copy {
  private readonly out: Buffer;
  length = 0;

  constructor(size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  put(source: Uint8Array, from: number, to: number): void {
    this.out.set(source.subarray(from, to), this.length);
    this.length += to - from;
  }

  byte(b: number): void {
    this.out[this.length++] = b;
  }

  contents(): Buffer {
    return this.out.subarray(0, this.length);
  }
}

/** Writes `output` (a sensitive output object) without its value members, keeping every other byte as written. */
const writeRedacted = (copy: Copy, output: Uint8Array, members: readonly Member[]): void => {
  copy.byte(output[0]!); // '{'
  let first = true;
  for (const member of members) {
    if (member.field === 'value') continue;
    if (!first) copy.byte(COMMA);
    copy.put(output, member.from, member.end);
    first = false;
  }
  // Whitespace after the last member, and the '}'.
  copy.put(output, members.length === 0 ? 1 : members.at(-1)!.end, output.length);
};

/** Visits the members of an `outputs` object held in `outputs`: each key as written, then its value. */
class OutputsVisitor implements RootMemberListener {
  constructor(
    private readonly keyed: (key: RawBytes) => void,
    private readonly valued: (member: RootMember) => void,
  ) {}

  onKey(key: RawBytes): number {
    this.keyed(key);
    return 0;
  }

  onValue(member: RootMember): void {
    this.valued(member);
  }

  /** Scans `outputs`, validated before: a failure is a bug. */
  static visit(outputs: Uint8Array, maxKeyBytes: number, keyed: (key: RawBytes) => void, valued: (member: RootMember) => void): void {
    const scanner = new JsonScanner({ listener: new OutputsVisitor(keyed, valued), maxCaptureBytes: maxKeyBytes });
    scanner.write(outputs);
    const error = scanner.end();
    if (error !== undefined) throw new Error(`outputs that were valid JSON no longer scan: ${error}`);
    if (scanner.rootKind !== 'object') throw new Error(`outputs must be an object, not ${scanner.rootKind ?? 'nothing'}`);
  }
}

/**
 * `outputs` (the root `outputs` value as written) with the `value` of every sensitive output left
 * out: every other byte as written, a sensitive output keeping its other members (`type`,
 * `"sensitive": true`). Memory: one buffer as large as `outputs` when something is left out (none
 * otherwise), plus a member list per output while it is read.
 */
export const redactedOutputs = (outputs: Buffer): Buffer => {
  let copy: Copy | undefined;
  let copied = 0;
  OutputsVisitor.visit(
    outputs,
    16, // keys are not looked at
    () => undefined,
    (member) => {
      if (member.kind !== 'object') return; // not an output Terraform wrote: nothing marks it sensitive
      const output = outputs.subarray(member.start, member.end);
      const read = new OutputMembers(output);
      if (!read.sensitive || read.last('value') === undefined) return;
      copy ??= new Copy(outputs.length);
      copy.put(outputs, copied, member.start);
      writeRedacted(copy, output, read.members);
      copied = member.end;
    },
  );
  if (copy === undefined) return outputs;
  copy.put(outputs, copied, outputs.length);
  return copy.contents();
};

/** One output, found by name. Buffers are views of the outputs given, as written. */
export type FoundOutput =
  | { readonly kind: 'output'; readonly sensitive: boolean; readonly type: Buffer | undefined; readonly value: Buffer | undefined; readonly valueKind: JsonKind | undefined }
  /** The name holds something else than an object: no output Terraform wrote. */
  | { readonly kind: 'not_an_object' };

/** The output named `name` (the last one if written twice, as JSON.parse reads it), or undefined. Names longer than MAX_OUTPUT_NAME_BYTES are never found. */
export const findOutput = (outputs: Buffer, name: string): FoundOutput | undefined => {
  const expected = Buffer.from(JSON.stringify(name));
  let matched = false;
  let found: { kind: JsonKind; start: number; end: number } | undefined;
  OutputsVisitor.visit(
    outputs,
    MAX_NAME_KEY_BYTES,
    (key) => {
      matched = keyIs(key, expected);
    },
    (member) => {
      if (matched) found = { kind: member.kind, start: member.start, end: member.end };
    },
  );
  if (found === undefined) return undefined;
  if (found.kind !== 'object') return { kind: 'not_an_object' };
  const output = outputs.subarray(found.start, found.end);
  const read = new OutputMembers(output);
  const type = read.last('type');
  const value = read.last('value');
  return {
    kind: 'output',
    sensitive: read.sensitive,
    type: type === undefined ? undefined : output.subarray(type.start, type.end),
    value: value === undefined ? undefined : output.subarray(value.start, value.end),
    valueKind: value?.kind,
  };
};

/**
 * A valid JSON value without the whitespace between its tokens (strings untouched): the same
 * bytes otherwise, numbers included. Returns `json` itself when there is none to remove.
 */
export const compactJson = (json: Buffer): Buffer => {
  let copy: Copy | undefined;
  let copied = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const b = json[i]!;
    if (inString) {
      if (b === BACKSLASH) i++; // the escaped byte (a quote, say) is no closing quote
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (isWhitespace(b)) {
      copy ??= new Copy(json.length);
      copy.put(json, copied, i);
      copied = i + 1;
    }
  }
  if (copy === undefined) return json;
  copy.put(json, copied, json.length);
  return copy.contents();
};

const SIMPLE_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

const hex4 = (json: Uint8Array, at: number): number => parseInt(String.fromCharCode(json[at]!, json[at + 1]!, json[at + 2]!, json[at + 3]!), 16);

/**
 * The text of a valid JSON string (`json`, quotes included) as UTF-8 bytes: the bytes between the
 * quotes themselves when there is no escape, else one buffer no larger than the input. A lone
 * surrogate escape (`\ud800`, which no UTF-8 can hold) becomes U+FFFD, as Buffer.from would make it.
 */
export const stringText = (json: Buffer): Buffer => {
  const inner = json.subarray(1, json.length - 1);
  if (!inner.includes(BACKSLASH)) return inner;
  const copy = new Copy(inner.length);
  let copied = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] !== BACKSLASH) continue;
    copy.put(inner, copied, i);
    const escaped = inner[i + 1]!;
    if (escaped !== 0x75) {
      copy.byte(SIMPLE_ESCAPES[escaped]!);
      i += 1;
    } else {
      let code = hex4(inner, i + 2);
      i += 5;
      if (code >= 0xd800 && code <= 0xdbff && inner[i + 1] === BACKSLASH && inner[i + 2] === 0x75) {
        const low = hex4(inner, i + 3);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          i += 6;
        }
      }
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
      const bytes = Buffer.from(String.fromCodePoint(code), 'utf8');
      copy.put(bytes, 0, bytes.length);
    }
    copied = i + 1;
  }
  copy.put(inner, copied, inner.length);
  return copy.contents();
};
