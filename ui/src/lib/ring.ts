// A fixed-capacity ring buffer: the client keeps the newest N log lines and drops the oldest.

export class Ring<T> {
  private buf: (T | undefined)[];
  private start = 0;
  private len = 0;
  /** How many items were dropped to make room since creation. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.buf = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.len;
  }

  /** Adds at the end; returns the oldest item if it had to go to make room. */
  push(item: T): T | undefined {
    if (this.len < this.capacity) {
      this.buf[(this.start + this.len) % this.capacity] = item;
      this.len++;
      return undefined;
    }
    const evicted = this.buf[this.start];
    this.buf[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    this.dropped++;
    return evicted;
  }

  pushAll(items: Iterable<T>): void {
    for (const item of items) this.push(item);
  }

  /** The i-th oldest item kept, or undefined. */
  get(i: number): T | undefined {
    if (i < 0 || i >= this.len) return undefined;
    return this.buf[(this.start + i) % this.capacity];
  }

  /** Oldest first. */
  toArray(): T[] {
    const out = new Array<T>(this.len);
    for (let i = 0; i < this.len; i++) out[i] = this.buf[(this.start + i) % this.capacity] as T;
    return out;
  }

  clear(): void {
    this.buf = new Array<T | undefined>(this.capacity);
    this.start = 0;
    this.len = 0;
  }
}
