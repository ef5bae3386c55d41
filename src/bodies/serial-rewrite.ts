import { Readable, Transform, type TransformCallback } from 'node:stream';
import { JsonScanner } from './json-scanner.js';
import { keyIs } from './state-document.js';

export interface SerialLocation {
  /** Byte offset of the top-level serial's number, and its length in bytes. */
  readonly offset: number;
  readonly length: number;
}

const SERIAL_KEY = Buffer.from('"serial"');

/**
 * Finds the top-level "serial" number in a stored state document with the byte-level scanner, so
 * no string is built whatever the document holds. The last occurrence counts, as when the state
 * was inspected at its push.
 */
export const locateSerial = async (source: Readable): Promise<SerialLocation | undefined> => {
  let found: SerialLocation | undefined;
  let atSerial = false;
  const scanner = new JsonScanner({
    listener: {
      onKey: (key) => {
        atSerial = keyIs(key, SERIAL_KEY);
        return 0;
      },
      onValue: (member) => {
        if (atSerial) found = member.kind === 'number' ? { offset: member.start, length: member.end - member.start } : undefined;
      },
    },
  });
  for await (const chunk of source) scanner.write(chunk as Buffer);
  return scanner.end() === undefined ? found : undefined;
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
