import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

/** What a stored body must be: its content address and length, as the ledger recorded them. */
export interface ExpectedBody {
  readonly sha256: string;
  readonly size: number;
}

/** Where a corrupt body was found, for the log line and the error. */
export interface BodyOrigin {
  readonly state: string | undefined;
  readonly version: number;
  readonly blobKey: string;
}

/**
 * Bytes in the blob store that are not the bytes the ledger recorded (a different SHA-256 or
 * length): a damaged disk or object, or a blob overwritten behind the server's back. Never served
 * as a success.
 */
export class CorruptBody extends Error {
  readonly state: string | undefined;
  readonly version: number;
  readonly blobKey: string;
  readonly expectedSha256: string;
  readonly expectedSize: number;
  /** The SHA-256 of what was read, when it was read to its end (a body found too long is cut short). */
  readonly actualSha256: string | undefined;
  /** Bytes read: all of them, or as far as the first byte beyond the expected length. */
  readonly actualSize: number;

  constructor(origin: BodyOrigin, expected: ExpectedBody, actual: { readonly sha256?: string | undefined; readonly size: number }) {
    const what = `version ${origin.version}${origin.state === undefined ? '' : ` of state ${origin.state}`} (blob ${origin.blobKey})`;
    const how =
      actual.sha256 === undefined
        ? `it is longer than the ${expected.size} bytes recorded`
        : actual.size !== expected.size
          ? `it is ${actual.size} bytes long, not the ${expected.size} recorded`
          : `its SHA-256 is ${actual.sha256}, not the ${expected.sha256} recorded`;
    super(`corruption: the stored body of ${what} does not match the ledger: ${how}`);
    this.name = 'CorruptBody';
    this.state = origin.state;
    this.version = origin.version;
    this.blobKey = origin.blobKey;
    this.expectedSha256 = expected.sha256;
    this.expectedSize = expected.size;
    this.actualSha256 = actual.sha256;
    this.actualSize = actual.size;
  }

  /** What a client may be told: no blob key (an internal address), but which version to avoid. */
  get publicMessage(): string {
    return `the stored body of version ${this.version}${this.state === undefined ? '' : ` of state ${this.state}`} is corrupt (its bytes do not match the checksum recorded when it was pushed); the server's log has the details: restore the blob from a backup, or read or roll back to another version`;
  }
}

let corruptBodies = 0;

/**
 * How many reads found a corrupt body (each one answered 500 or cut short), since the process
 * started. Metrics-ready: a prom-client counter can read it in its collect().
 */
export const corruptBodiesServed = (): number => corruptBodies;

/** Counts one corrupt read (sendBody calls it once per request that found one). */
export const countCorruptBody = (): void => {
  corruptBodies += 1;
};

/**
 * Reads a whole body into memory, at most `expected.size` bytes (plus the chunk that shows it is
 * longer), and checks it. Resolves with the bytes, or rejects with CorruptBody.
 */
export const readVerified = async (stream: Readable, expected: ExpectedBody, origin: BodyOrigin): Promise<Buffer> => {
  const bytes = Buffer.allocUnsafe(expected.size);
  let filled = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (filled + chunk.length > expected.size) throw new CorruptBody(origin, expected, { size: filled + chunk.length });
      chunk.copy(bytes, filled);
      filled += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  const sha256 = createHash('sha256').update(bytes.subarray(0, filled)).digest('hex');
  if (filled !== expected.size || sha256 !== expected.sha256) throw new CorruptBody(origin, expected, { sha256, size: filled });
  return bytes;
};

/**
 * A pass-through that hashes and counts the bytes as they stream, and holds back the latest chunk
 * until the next one arrives: the last chunk goes out only once the SHA-256 and the length of the
 * whole body are known to match. On a mismatch it fails with CorruptBody instead, so a client
 * (given a Content-Length) sees a transfer cut short, never a complete body of wrong bytes. A body
 * longer than expected fails as soon as a chunk goes past the expected length.
 */
export const verifyingStream = (
  expected: ExpectedBody,
  origin: BodyOrigin,
  options: { readonly highWaterMark: number; readonly onCorrupt: (error: CorruptBody) => void },
): Transform => {
  const hash = createHash('sha256');
  let seen = 0;
  let held: Buffer | null = null;
  // Reported before the stream fails (and the response is destroyed), so it is on record before the client sees the cut.
  const fail = (error: CorruptBody, done: (error: Error) => void) => {
    options.onCorrupt(error);
    done(error);
  };
  return new Transform({
    // Both sides: a chunk or two from the store in flight while the socket drains.
    highWaterMark: options.highWaterMark,
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > expected.size) return fail(new CorruptBody(origin, expected, { size: seen }), done);
      hash.update(chunk);
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      const sha256 = hash.digest('hex');
      if (seen !== expected.size || sha256 !== expected.sha256) return fail(new CorruptBody(origin, expected, { sha256, size: seen }), done);
      done(null, held);
    },
  });
};
