import { createHash, type Hash } from 'node:crypto';

const BUFFER_BYTES = 64 * 1024;

/**
 * A digest of one instance's `attributes` as written, whitespace between tokens left out (fed only
 * the bytes of tokens), so that two versions whose attributes are the same bytes give the same
 * digest however they were indented. Terraform and OpenTofu write attribute keys sorted, so equal
 * attributes are equal bytes. Bytes are gathered in a buffer: hashing byte by byte would be slow.
 */
export class AttributesDigest {
  private readonly buffer = new Uint8Array(BUFFER_BYTES);
  private length = 0;
  private hash: Hash | undefined;

  begin(): void {
    this.hash = createHash('sha256');
    this.length = 0;
  }

  get active(): boolean {
    return this.hash !== undefined;
  }

  push(byte: number): void {
    if (this.length === BUFFER_BYTES) this.flush();
    this.buffer[this.length++] = byte;
  }

  append(chunk: Uint8Array, from: number, to: number): void {
    if (to - from > BUFFER_BYTES - this.length) {
      this.flush();
      this.hash?.update(chunk.subarray(from, to));
      return;
    }
    this.buffer.set(chunk.subarray(from, to), this.length);
    this.length += to - from;
  }

  /** The digest (128 bits, base64url: collisions are out of reach) of everything since begin(). */
  end(): string {
    this.flush();
    const digest = this.hash?.digest().subarray(0, 16).toString('base64url') ?? '';
    this.hash = undefined;
    return digest;
  }

  private flush(): void {
    if (this.length > 0) this.hash?.update(this.buffer.subarray(0, this.length));
    this.length = 0;
  }
}
