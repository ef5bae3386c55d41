import fs, { type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * A private temporary file that a body streams into. A write that fails (a full disk) does not
 * fail the stream: the rest of the body is read and dropped, so the client gets an answer (507)
 * instead of a reset connection, and `failure` says what went wrong.
 */
export class BodyFile extends Writable {
  private handle: FileHandle | undefined;
  failure: Error | undefined;
  bytesWritten = 0;

  constructor(readonly path: string) {
    super({ highWaterMark: 1 << 20 });
  }

  override _construct(done: (error?: Error | null) => void): void {
    fs.open(this.path, 'wx', 0o600).then(
      (handle) => {
        this.handle = handle;
        done();
      },
      (error: Error) => {
        this.failure = error;
        done();
      },
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.failure !== undefined || this.handle === undefined) return done();
    this.writeAll(this.handle, chunk).then(
      () => done(),
      (error: Error) => {
        this.failure = error;
        done();
      },
    );
  }

  override _final(done: (error?: Error | null) => void): void {
    this.close().then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.close().then(
      () => done(error),
      () => done(error),
    );
  }

  private async writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
      this.bytesWritten += bytesWritten;
    }
  }

  private async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch((error: Error) => {
      this.failure ??= error;
    });
  }
}
