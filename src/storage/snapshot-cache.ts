/**
 * The last known snapshot of recently used streams, per process. Never trusted for correctness:
 * an append made from a cached snapshot commits only if the stream is still at exactly that
 * version, and a refusal decided from one is checked again against PostgreSQL.
 */
export class SnapshotCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(streamId: string): V | undefined {
    const value = this.entries.get(streamId);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry as the most recently used.
      this.entries.delete(streamId);
      this.entries.set(streamId, value);
    }
    return value;
  }

  set(streamId: string, value: V): void {
    this.entries.delete(streamId);
    this.entries.set(streamId, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }
}
