import { Transform, type TransformCallback } from 'node:stream';

/**
 * Joins chunks into blocks of at least `blockBytes` (the last may be shorter). A socket delivers a
 * body 64 KiB at a time; written to a file as they come, a 100 MiB body costs 1,600 writes, each a
 * round trip to the thread pool, and takes several times longer to write than in 1 MiB blocks.
 */
export class Coalesce extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly blockBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.blockBytes) return done();
    done(null, this.block());
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingBytes === 0 ? undefined : this.block());
  }

  private block(): Buffer {
    const joined = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return joined;
  }
}
