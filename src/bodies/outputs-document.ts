/**
 * The state a least-privilege `terraform_remote_state` reader gets: the root outputs as written,
 * no resources. Built from a stored body of any size in one pass, holding at most the outputs.
 */

import * as E from 'fp-ts/lib/Either.js';
import { JsonScanner, type RawBytes, type RootMember, type RootMemberListener } from './json-scanner.js';
import { keyIs } from './state-document.js';

export type OutputsRefusal =
  | { readonly kind: 'encrypted' }
  | { readonly kind: 'too_large'; readonly limit: number }
  | { readonly kind: 'unreadable'; readonly reason: string };

export interface OutputsDocumentOptions {
  /** Largest `outputs` value kept, in bytes as written. Default DEFAULT_MAX_OUTPUTS_BYTES. */
  readonly maxOutputsBytes?: number;
}

export const DEFAULT_MAX_OUTPUTS_BYTES = 64 * 1024 * 1024;

/** Root members copied as written, in the order Terraform writes them. */
const HEADER_NAMES = ['version', 'terraform_version', 'serial', 'lineage'] as const;
type HeaderName = (typeof HEADER_NAMES)[number];
const HEADER_KEYS = HEADER_NAMES.map((name) => ({ name, key: Buffer.from(JSON.stringify(name)) }));
const OUTPUTS_KEY = Buffer.from('"outputs"');
const ENCRYPTED_DATA_KEY = Buffer.from('"encrypted_data"');
/** Longest header value kept as written; pushes are refused long before (256 bytes for strings). */
const MAX_HEADER_BYTES = 1024;
const NULL_BYTES = Buffer.from('null');
const NO_BYTES = new Uint8Array(0);

const unreadable = (reason: string): OutputsRefusal => ({ kind: 'unreadable', reason });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const isWhitespace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

// Where RootGap stands between root members.
const BEFORE_ROOT = 0;
const BEFORE_KEY = 1; // after '{' or ','
const AFTER_MEMBER = 2;
const IN_KEY = 3;
const KEY_ESCAPE = 4;
const BEFORE_COLON = 5;
const BEFORE_VALUE = 6;
const IN_VALUE = 7;
const CLOSED = 8;

/**
 * Follows the bytes between root members to find where a root value starts: the scanner reports
 * a value's start only once the value is complete, and holding everything from the key on would
 * let whitespace or the chunk before the value count against the limit. It reads only bytes the
 * scanner has accepted, so it needs no error handling, and only the gaps (keys and whitespace).
 */
class RootGap {
  private state = BEFORE_ROOT;

  get inValue(): boolean {
    return this.state === IN_VALUE;
  }

  memberEnded(): void {
    this.state = AFTER_MEMBER;
  }

  /** Reads `chunk[from..)` until a root value starts: returns its index in the chunk, else -1. */
  scan(chunk: Uint8Array, from: number): number {
    let state = this.state;
    for (let i = from; i < chunk.length && state !== CLOSED; i++) {
      const b = chunk[i]!;
      if (state === IN_KEY) {
        if (b === BACKSLASH) state = KEY_ESCAPE;
        else if (b === QUOTE) state = BEFORE_COLON;
      } else if (state === KEY_ESCAPE) {
        state = IN_KEY; // the escaped byte: \uXXXX goes on with hex digits, never a quote
      } else if (!isWhitespace(b)) {
        if (state === BEFORE_VALUE) {
          this.state = IN_VALUE;
          return i;
        }
        if (state === BEFORE_ROOT) state = b === OPEN_BRACE ? BEFORE_KEY : CLOSED;
        else if (state === BEFORE_KEY) state = b === QUOTE ? IN_KEY : CLOSED; // '}' of an empty root
        else if (state === AFTER_MEMBER) state = b === COMMA ? BEFORE_KEY : CLOSED;
        else state = BEFORE_VALUE; // BEFORE_COLON: the colon
      }
    }
    this.state = state;
    return -1;
  }
}

/** Bytes appended up to a fixed limit, in one buffer grown by doubling (never beyond the limit). */
class Held {
  private bytes = Buffer.alloc(0);
  length = 0;

  constructor(
    readonly start: number,
    private readonly limit: number,
  ) {}

  append(chunk: Uint8Array, from: number, to: number): void {
    const needed = this.length + to - from;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.limit, Math.max(needed, 2 * this.bytes.length, 4096)));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    this.bytes.set(chunk.subarray(from, to), this.length);
    this.length = needed;
  }

  contents(): Buffer {
    return this.bytes.subarray(0, this.length);
  }
}

/** The last `outputs` member read so far: JSON.parse lets a repeated key win, and so do we. */
type Outputs =
  | { readonly state: 'absent' }
  /** Its key is read; its value has not started in the bytes written so far. */
  | { readonly state: 'awaiting' }
  | { readonly state: 'holding'; readonly held: Held }
  | { readonly state: 'kept'; readonly bytes: Buffer }
  /** Too large (nothing is held while its end is awaited) or not an object. */
  | { readonly state: 'refused'; readonly refusal: OutputsRefusal };

const ABSENT: Outputs = { state: 'absent' };
const AWAITING: Outputs = { state: 'awaiting' };

/** A header member's bytes as written, or why they cannot be copied. */
type Header = Buffer | { readonly problem: string };

class OutputsReader implements RootMemberListener {
  private readonly scanner = new JsonScanner({ listener: this, maxCaptureBytes: MAX_HEADER_BYTES });
  private readonly gap = new RootGap();
  private readonly headers = new Map<HeaderName, Header>();
  private outputs: Outputs = ABSENT;
  private current: HeaderName | 'outputs' | undefined;
  private encrypted = false;
  /** The chunk being written, its absolute offset, and where its last completed root member ended (-1: none). */
  private chunk: Uint8Array = NO_BYTES;
  private chunkStart = 0;
  private lastEnd = -1;

  constructor(private readonly limit: number) {}

  /** Feeds one chunk; a refusal as soon as one is certain, whatever follows. */
  write(chunk: Uint8Array): OutputsRefusal | undefined {
    this.chunk = chunk;
    this.lastEnd = -1;
    this.scanner.write(chunk);
    this.chunk = NO_BYTES; // never keep the caller's buffer
    if (this.encrypted) return { kind: 'encrypted' };
    const root = this.scanner.rootKind;
    if (root !== undefined && root !== 'object') return unreadable('the state must be a JSON object');
    if (this.scanner.error !== undefined) return unreadable(this.scanner.error);
    this.followGap(chunk);
    this.chunkStart += chunk.length;
    return undefined;
  }

  finish(): E.Either<OutputsRefusal, { readonly document: Buffer; readonly outputs: Buffer }> {
    const error = this.scanner.end();
    if (error !== undefined) return E.left(unreadable(error));
    const parts: Buffer[] = [Buffer.from('{\n')];
    for (const name of HEADER_NAMES) {
      const header = this.headers.get(name);
      if (header === undefined) continue;
      if (!Buffer.isBuffer(header)) return E.left(unreadable(header.problem));
      parts.push(Buffer.from(`  "${name}": `), header, Buffer.from(',\n'));
    }
    const outputs = this.outputs;
    if (outputs.state === 'refused') return E.left(outputs.refusal);
    // A complete document leaves no member open: 'awaiting' and 'holding' cannot remain.
    if (outputs.state !== 'absent' && outputs.state !== 'kept') throw new Error(`outputs left ${outputs.state} at the end of a valid document`);
    const value = outputs.state === 'kept' ? outputs.bytes : Buffer.from('{}');
    parts.push(Buffer.from('  "outputs": '), value);
    // Indented as Terraform writes a state, so a Terraform-written outputs value reads as it did.
    parts.push(Buffer.from(',\n  "resources": [],\n  "check_results": null\n}\n'));
    return E.right({ document: Buffer.concat(parts), outputs: value });
  }

  onKey(key: RawBytes): number {
    this.current = undefined;
    if (keyIs(key, OUTPUTS_KEY)) {
      this.current = 'outputs';
      this.outputs = AWAITING; // drops an earlier occurrence and what it held
      return 0;
    }
    if (keyIs(key, ENCRYPTED_DATA_KEY)) this.encrypted = true;
    for (const { name, key: expected } of HEADER_KEYS) {
      if (keyIs(key, expected)) {
        this.current = name;
        return MAX_HEADER_BYTES;
      }
    }
    return 0;
  }

  onValue(member: RootMember): void {
    this.lastEnd = member.end;
    const current = this.current;
    if (current === 'outputs') this.outputsEnded(member);
    else if (current !== undefined) this.headers.set(current, headerOf(current, member));
  }

  /** The outputs value is complete in the current chunk: keep it, or say why not. */
  private outputsEnded(member: RootMember): void {
    const outputs = this.outputs;
    if (member.kind !== 'object') {
      this.outputs = { state: 'refused', refusal: unreadable(`outputs must be a JSON object, not ${member.kind === 'array' ? 'an' : 'a'} ${member.kind}`) };
    } else if (outputs.state === 'refused' || member.end - member.start > this.limit) {
      this.outputs = { state: 'refused', refusal: { kind: 'too_large', limit: this.limit } };
    } else if (outputs.state === 'holding') {
      if (outputs.held.start !== member.start) throw new Error(`outputs held from byte ${outputs.held.start}, but its value starts at ${member.start}`);
      outputs.held.append(this.chunk, 0, member.end - this.chunkStart);
      this.outputs = { state: 'kept', bytes: outputs.held.contents() };
    } else {
      // Otherwise RootGap would have found the start in an earlier chunk and holding begun.
      if (member.start < this.chunkStart) throw new Error(`outputs started at byte ${member.start}, before the chunk at ${this.chunkStart}, unheld`);
      this.outputs = { state: 'kept', bytes: Buffer.from(this.chunk.subarray(member.start - this.chunkStart, member.end - this.chunkStart)) };
    }
  }

  /** After a chunk: hold what it has of an outputs value still open, and no byte before it. */
  private followGap(chunk: Uint8Array): void {
    let from = 0;
    if (this.lastEnd >= 0) {
      this.gap.memberEnded();
      from = this.lastEnd - this.chunkStart;
    } else if (this.gap.inValue) {
      // The same root value goes on through the whole chunk.
      if (this.outputs.state === 'holding') this.hold(this.outputs.held, chunk, 0);
      return;
    }
    const start = this.gap.scan(chunk, from);
    // The value that starts is the last key's, which is outputs if its state is still awaiting.
    if (start >= 0 && this.outputs.state === 'awaiting') this.hold(new Held(this.chunkStart + start, this.limit), chunk, start);
  }

  /** The value is not complete after this chunk, so it is larger than what is held by at least one byte. */
  private hold(held: Held, chunk: Uint8Array, from: number): void {
    if (held.length + chunk.length - from >= this.limit) {
      this.outputs = { state: 'refused', refusal: { kind: 'too_large', limit: this.limit } };
      return;
    }
    held.append(chunk, from, chunk.length);
    if (this.outputs.state !== 'holding') this.outputs = { state: 'holding', held };
  }
}

/** Strings and numbers are copied as written; null is the one other value spelt one way. */
const headerOf = (name: HeaderName, member: RootMember): Header => {
  const raw = member.raw;
  if ((member.kind === 'string' || member.kind === 'number') && !raw.tooLong) return Buffer.from(raw.bytes.subarray(0, raw.length));
  if (member.kind === 'null') return NULL_BYTES;
  return { problem: `${name} must be a string or a number of at most ${MAX_HEADER_BYTES} bytes` };
};

/**
 * The outputs-only state of a stored body: its version, terraform_version, serial and lineage
 * (those present) and its outputs value, all byte for byte, with `"resources": []` and
 * `"check_results": null`. Linear time; memory is the outputs value at most (refused past
 * maxOutputsBytes), plus the final document. An error from `source` rejects the promise.
 */
const readOutputs = async (source: AsyncIterable<Uint8Array>, options: OutputsDocumentOptions) => {
  const limit = options.maxOutputsBytes ?? DEFAULT_MAX_OUTPUTS_BYTES;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`maxOutputsBytes must be a non-negative integer, not ${limit}`);
  const reader = new OutputsReader(limit);
  for await (const chunk of source) {
    // Returning ends the iteration: an encrypted payload or a non-object root is not read on.
    const refusal = reader.write(chunk);
    if (refusal !== undefined) return E.left(refusal);
  }
  return reader.finish();
};

export const outputsDocument = async (source: AsyncIterable<Uint8Array>, options: OutputsDocumentOptions = {}): Promise<E.Either<OutputsRefusal, Buffer>> =>
  E.map((read: { document: Buffer }) => read.document)(await readOutputs(source, options));

/** The root `outputs` value alone, byte for byte (`{}` when absent): what a JSON answer embeds without re-encoding a single number. */
export const outputsValue = async (source: AsyncIterable<Uint8Array>, options: OutputsDocumentOptions = {}): Promise<E.Either<OutputsRefusal, Buffer>> =>
  E.map((read: { outputs: Buffer }) => read.outputs)(await readOutputs(source, options));
