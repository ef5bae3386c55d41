import { Readable, Transform, type TransformCallback } from 'node:stream';
import { Tokenizer, TokenType } from '@streamparser/json';

export interface SerialLocation {
  /** Byte offset of the top-level serial's number, and its length in bytes. */
  readonly offset: number;
  readonly length: number;
}

const NUMBER_BYTE = /[0-9eE+\-.]/;

/**
 * Finds the top-level "serial" value in a state document, reading only as far as needed
 * (Terraform writes it near the top).
 */
export const locateSerial = async (source: Readable): Promise<SerialLocation | undefined> => {
  const tokenizer = new Tokenizer();
  let depth = 0;
  let lastKey: string | undefined;
  let expectValueOf: string | undefined;
  let found: number | undefined;
  tokenizer.onToken = ({ token, value, offset }) => {
    if (found !== undefined) return;
    if (depth === 1 && expectValueOf === 'serial' && token === TokenType.NUMBER) found = offset;
    expectValueOf = depth === 1 && token === TokenType.COLON ? lastKey : undefined;
    lastKey = depth === 1 && token === TokenType.STRING ? String(value) : undefined;
    if (token === TokenType.LEFT_BRACE || token === TokenType.LEFT_BRACKET) depth++;
    if (token === TokenType.RIGHT_BRACE || token === TokenType.RIGHT_BRACKET) depth--;
  };
  const window: Buffer[] = [];
  let consumed = 0;
  for await (const chunk of source) {
    const bytes = chunk as Buffer;
    window.push(bytes);
    tokenizer.write(bytes);
    consumed += bytes.length;
    if (found !== undefined && consumed > found + 32) break; // enough bytes to measure the number
  }
  if (found === undefined) return undefined;
  const text = Buffer.concat(window).subarray(found, found + 32).toString('latin1');
  let length = 0;
  while (length < text.length && NUMBER_BYTE.test(text.charAt(length))) length++;
  return { offset: found, length };
};

/** Replaces the bytes at `location` with `serial`, passing everything else through unchanged. */
export const spliceSerial = (source: Readable, location: SerialLocation, serial: number): Readable => {
  let position = 0;
  const replacement = Buffer.from(String(serial));
  const splice = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      const start = position;
      position += chunk.length;
      const end = location.offset + location.length;
      if (position <= location.offset || start >= end) return done(null, chunk);
      const parts: Buffer[] = [];
      if (location.offset > start) parts.push(chunk.subarray(0, location.offset - start));
      if (location.offset >= start) parts.push(replacement);
      if (end < position) parts.push(chunk.subarray(end - start));
      done(null, Buffer.concat(parts));
    },
  });
  source.once('error', (error) => splice.destroy(error));
  return source.pipe(splice);
};
