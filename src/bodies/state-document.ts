import { JSONParser } from '@streamparser/json';
import type { BodySummary } from '../commands/commands.js';
import { isStorable } from '../events/storable-string.js';

/** What the ledger reads from a pushed body. */
export type StateSummary = BodySummary;

const TOP_LEVEL = ['serial', 'lineage', 'terraform_version', 'version', 'encryption_version', 'encrypted_data'];
const isWhitespace = (byte: number): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

const summarize = (fields: Map<string, unknown>, counts: { resources: number; outputs: number }): StateSummary | string => {
  const serial = fields.get('serial');
  const lineage = fields.get('lineage');
  const terraformVersion = fields.get('terraform_version');
  if (typeof serial !== 'number' || !Number.isSafeInteger(serial) || serial < 0) return 'serial must be a non-negative integer';
  if (typeof lineage !== 'string') return 'lineage must be a string';
  if (!isStorable(lineage) || (typeof terraformVersion === 'string' && !isStorable(terraformVersion))) {
    return 'lineage and terraform_version must not contain NUL or unpaired surrogates';
  }
  const encrypted = fields.has('encryption_version');
  if (encrypted) {
    if (typeof fields.get('encryption_version') !== 'string') return 'encryption_version must be a string';
    if (fields.get('encrypted_data') !== 'string') return 'an encrypted state needs encrypted_data as a string';
  } else {
    if (typeof fields.get('version') !== 'number') return 'a state needs a numeric version (its format version)';
    if (terraformVersion !== undefined && typeof terraformVersion !== 'string') return 'terraform_version must be a string';
  }
  return {
    serial,
    lineage,
    terraformVersion: typeof terraformVersion === 'string' ? terraformVersion : null,
    encrypted,
    resourceCount: encrypted ? null : counts.resources,
    outputCount: encrypted ? null : counts.outputs,
  };
};

/**
 * Validates a state document chunk by chunk, in constant memory apart from the few top-level
 * fields it keeps: a plain Terraform/OpenTofu state or an OpenTofu-encrypted one.
 */
export class StateDocumentInspector {
  private readonly parser = new JSONParser({
    paths: [...TOP_LEVEL.map((key) => `$.${key}`), '$.resources.*', '$.outputs.*'],
    keepStack: false,
  });
  private readonly fields = new Map<string, unknown>();
  private readonly counts = { resources: 0, outputs: 0 };
  private sawRoot = false;
  private problem: string | undefined;

  constructor() {
    this.parser.onValue = ({ key, value, stack }) => {
      const parent = stack[1]?.key;
      if (parent === 'resources') this.counts.resources++;
      else if (parent === 'outputs') this.counts.outputs++;
      // encrypted_data can be hundreds of MB: keep only its type.
      else if (typeof key === 'string') this.fields.set(key, key === 'encrypted_data' ? typeof value : value);
    };
    this.parser.onError = (error) => this.fail(`not valid JSON: ${error.message}`);
  }

  write(chunk: Buffer): void {
    if (this.problem !== undefined) return;
    if (!this.sawRoot) {
      const first = chunk.findIndex((byte) => !isWhitespace(byte));
      if (first < 0) return;
      if (chunk[first] !== 0x7b) return this.fail('the body must be a JSON object');
      this.sawRoot = true;
    }
    if (this.parser.isEnded) {
      // Whitespace may follow the object; anything else is a second value.
      if (!chunk.every(isWhitespace)) this.fail('not valid JSON: unexpected data after the state object');
      return;
    }
    this.parser.write(chunk);
  }

  /** The summary, or a sentence saying why the document is not an acceptable state. */
  finish(): StateSummary | string {
    if (this.problem === undefined && !this.parser.isEnded) this.fail('not valid JSON: the document is incomplete');
    return this.problem ?? summarize(this.fields, this.counts);
  }

  private fail(problem: string): void {
    this.problem ??= problem;
  }
}
