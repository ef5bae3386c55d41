import type { BodySummary } from '../commands/commands.js';
import { isStorable } from '../events/storable-string.js';
import { JsonScanner, type JsonKind, type RawBytes, type RootMember, type RootMemberListener } from './json-scanner.js';

/** What the ledger reads from a pushed body. */
export type StateSummary = BodySummary;

/** Longest number text kept for serial and version: no real one comes close. */
const MAX_NUMBER_BYTES = 32;
/** Longest string kept for lineage, terraform_version and encryption_version, as written between the quotes. */
const MAX_STRING_BYTES = 256;
const QUOTES = 2;
const BACKSLASH = 0x5c;

const utf8 = new TextDecoder();
const rawText = (bytes: Uint8Array, length: number): string => utf8.decode(bytes.subarray(0, length));

/**
 * The last occurrence of one top-level field (JSON.parse lets a repeated key win): its kind, its
 * raw text if the field needs it, and its children. The buffer is allocated once, so a body that
 * repeats a key a million times costs no memory.
 */
class KeptField {
  kind: JsonKind | undefined;
  children = 0;
  tooLong = false;
  private readonly bytes: Uint8Array;
  private length = 0;

  /** `maxBytes`: how much of the value to keep as written (strings with their quotes); 0 for none. */
  constructor(readonly maxBytes: number) {
    this.bytes = new Uint8Array(maxBytes);
  }

  keep(member: RootMember): void {
    this.kind = member.kind;
    this.children = member.children;
    this.tooLong = member.raw.tooLong;
    this.length = member.raw.length;
    for (let i = 0; i < this.length; i++) this.bytes[i] = member.raw.bytes[i]!;
  }

  /** The kept text as written. */
  text(): string {
    return rawText(this.bytes, this.length);
  }

  /** The value JSON.parse gives for the (small) kept text. */
  value(): unknown {
    return JSON.parse(this.text());
  }
}

const keptFields = () => ({
  serial: new KeptField(MAX_NUMBER_BYTES),
  version: new KeptField(MAX_NUMBER_BYTES),
  lineage: new KeptField(MAX_STRING_BYTES + QUOTES),
  terraform_version: new KeptField(MAX_STRING_BYTES + QUOTES),
  encryption_version: new KeptField(MAX_STRING_BYTES + QUOTES),
  // encrypted_data can be hundreds of MB: only its kind matters.
  encrypted_data: new KeptField(0),
  resources: new KeptField(0),
  outputs: new KeptField(0),
});
type KeptFields = ReturnType<typeof keptFields>;
type FieldName = keyof KeptFields;

/** Each field's key as a JSON string in its shortest form, to compare raw keys with no allocation. */
const FIELD_KEYS = (Object.keys(keptFields()) as FieldName[]).map((name) => ({ name, bytes: Buffer.from(JSON.stringify(name)) }));

const rawEquals = (raw: RawBytes, expected: Uint8Array): boolean => {
  if (raw.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (raw.bytes[i] !== expected[i]) return false;
  return true;
};

const hasEscape = (raw: RawBytes): boolean => {
  for (let i = 0; i < raw.length; i++) if (raw.bytes[i] === BACKSLASH) return true;
  return false;
};

/** Whether a raw key (as written, quotes included) names `expected`, given as its quoted shortest form. */
export const keyIs = (key: RawBytes, expected: Uint8Array): boolean => {
  if (key.tooLong) return false;
  if (!hasEscape(key)) return rawEquals(key, expected);
  return JSON.parse(rawText(key.bytes, key.length)) === JSON.parse(rawText(expected, expected.length));
};

/**
 * Which field a raw key names. Plain loops, no allocation: a body may hold millions of top-level
 * keys. A key written with escapes (rare) is decoded to compare.
 */
const fieldNamed = (key: RawBytes): FieldName | undefined => {
  if (key.tooLong) return undefined; // longer than any of ours, even fully escaped
  if (hasEscape(key)) {
    const name: unknown = JSON.parse(rawText(key.bytes, key.length));
    return FIELD_KEYS.find((field) => field.name === name)?.name;
  }
  for (const field of FIELD_KEYS) if (rawEquals(key, field.bytes)) return field.name; // no closure per key
  return undefined;
};

/** Why a kept field does not fit: the sentence the client gets. */
class Refusal {
  constructor(readonly reason: string) {}
}

/** The string a kept field holds, or why it does not fit. */
const keptString = (field: KeptField, name: string): string | Refusal => {
  if (field.kind !== 'string') return new Refusal(`${name} must be a string`);
  if (field.tooLong) return new Refusal(`${name} must be a string of at most ${MAX_STRING_BYTES} bytes`);
  return field.value() as string;
};

/**
 * Terraform and OpenTofu read serial and version as unsigned integers: `1.0`, `1e2` or `-0` would
 * be stored and then fail every client that reads the state back. Digits only, then.
 */
const DIGITS = /^(0|[1-9][0-9]*)$/;

const serialOf = (field: KeptField): number | Refusal => {
  const refusal = new Refusal(`serial must be a non-negative integer up to ${Number.MAX_SAFE_INTEGER}, written with digits only`);
  if (field.kind !== 'number' || field.tooLong || !DIGITS.test(field.text())) return refusal;
  const serial = field.value() as number;
  return Number.isSafeInteger(serial) ? serial : refusal;
};

/** Entries in `resources` or keys in `outputs`: children of an array or object, else 0. */
const countOf = (field: KeptField): number => (field.kind === 'array' || field.kind === 'object' ? field.children : 0);

const summarize = (fields: KeptFields): StateSummary | string => {
  const serial = serialOf(fields.serial);
  if (serial instanceof Refusal) return serial.reason;
  const lineage = keptString(fields.lineage, 'lineage');
  if (lineage instanceof Refusal) return lineage.reason;
  const terraformVersion = fields.terraform_version.kind === 'string' ? keptString(fields.terraform_version, 'terraform_version') : null;
  if (terraformVersion instanceof Refusal) return terraformVersion.reason;
  if (!isStorable(lineage) || (terraformVersion !== null && !isStorable(terraformVersion))) {
    return 'lineage and terraform_version must not contain NUL or unpaired surrogates';
  }
  const encrypted = fields.encryption_version.kind !== undefined;
  if (encrypted) {
    const encryptionVersion = keptString(fields.encryption_version, 'encryption_version');
    if (encryptionVersion instanceof Refusal) return encryptionVersion.reason;
    if (fields.encrypted_data.kind !== 'string') return 'an encrypted state needs encrypted_data as a string';
  } else {
    if (fields.version.kind !== 'number') return 'a state needs a numeric version (its format version)';
    if (fields.version.tooLong || !DIGITS.test(fields.version.text())) {
      return 'version (the state format version) must be a non-negative integer, written with digits only';
    }
    if (fields.terraform_version.kind !== undefined && terraformVersion === null) return 'terraform_version must be a string';
  }
  return {
    serial,
    lineage,
    terraformVersion,
    encrypted,
    resourceCount: encrypted ? null : countOf(fields.resources),
    outputCount: encrypted ? null : countOf(fields.outputs),
  };
};

/** Keeps the last occurrence of each top-level field the summary needs, and nothing else. */
class FieldCollector implements RootMemberListener {
  readonly fields = keptFields();
  private current: KeptField | undefined;

  onKey(key: RawBytes): number {
    const name = fieldNamed(key);
    this.current = name === undefined ? undefined : this.fields[name];
    return this.current?.maxBytes ?? 0;
  }

  onValue(member: RootMember): void {
    this.current?.keep(member);
  }
}

/**
 * Validates a state document chunk by chunk, in linear time and constant memory whatever its
 * shape: a plain Terraform/OpenTofu state or an OpenTofu-encrypted one.
 */
export class StateDocumentInspector {
  private readonly collector = new FieldCollector();
  // Keys are kept up to the same limit: enough for any of ours, even written fully escaped.
  private readonly scanner = new JsonScanner({ listener: this.collector, maxCaptureBytes: MAX_STRING_BYTES + QUOTES });
  private problem: string | undefined;

  write(chunk: Buffer): void {
    if (this.problem !== undefined) return;
    this.scanner.write(chunk);
    // Stop at once on a root that is not an object rather than scan hundreds of MB of it.
    const root = this.scanner.rootKind;
    if (root !== undefined && root !== 'object') this.problem = 'the body must be a JSON object';
    else this.problem = this.scanner.error;
  }

  /** The summary, or a sentence saying why the document is not an acceptable state. */
  finish(): StateSummary | string {
    this.problem ??= this.scanner.end();
    return this.problem ?? summarize(this.collector.fields);
  }
}
