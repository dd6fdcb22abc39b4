// Merging the live feed with the history fetched at start: logs and events are kept once
// each (by sequence number) and bounded, so a long session stays within memory.

import { Ring } from './ring';
import type { ClusterEvent, LogLine, Update } from './types';

/** The client's log buffer: newest `capacity` lines, each (service, seq) once. */
export class LogFeed {
  readonly ring: Ring<LogLine>;
  private lastSeq = new Map<string, number>();
  /** Lines the engine dropped for this viewer because it fell behind (`Update::Logs.skipped`). */
  skipped = 0;
  /** Lines kept per service right now. */
  readonly perService = new Map<string, number>();

  constructor(capacity: number) {
    this.ring = new Ring<LogLine>(capacity);
  }

  /** Adds lines oldest first; a line already seen (same service, seq not newer) is ignored. Returns how many were added. */
  add(lines: readonly LogLine[], skipped = 0): number {
    this.skipped += skipped;
    let added = 0;
    for (const line of lines) {
      const last = this.lastSeq.get(line.service);
      if (last !== undefined && line.seq <= last) continue;
      this.lastSeq.set(line.service, line.seq);
      this.perService.set(line.service, (this.perService.get(line.service) ?? 0) + 1);
      const evicted = this.ring.push(line);
      if (evicted) {
        const left = (this.perService.get(evicted.service) ?? 1) - 1;
        if (left > 0) this.perService.set(evicted.service, left);
        else this.perService.delete(evicted.service);
      }
      added++;
    }
    return added;
  }

  get length(): number {
    return this.ring.length;
  }

  /** Lines ever kept; line number `n` (0-based, counting from the first ever) is `at(n)`. */
  get total(): number {
    return this.ring.dropped + this.ring.length;
  }

  /** The line numbered `n`, if still kept. */
  at(n: number): LogLine | undefined {
    return this.ring.get(n - this.ring.dropped);
  }

  toArray(): LogLine[] {
    return this.ring.toArray();
  }
}

/** The event timeline, newest first, each seq once, at most `capacity` kept. */
export class EventFeed {
  private items: ClusterEvent[] = [];
  private seen = new Set<number>();

  constructor(readonly capacity: number) {}

  /** Adds events in any order; returns whether anything changed. */
  add(events: readonly ClusterEvent[]): boolean {
    let changed = false;
    for (const e of events) {
      if (this.seen.has(e.seq)) continue;
      this.seen.add(e.seq);
      this.items.push(e);
      changed = true;
    }
    if (!changed) return false;
    this.items.sort((a, b) => b.seq - a.seq);
    if (this.items.length > this.capacity) {
      for (const e of this.items.splice(this.capacity)) this.seen.delete(e.seq);
    }
    return true;
  }

  /** Newest first. */
  list(): ClusterEvent[] {
    return this.items.slice();
  }
}

/**
 * Updates that arrive before the history is in, kept for after it: at most `maxLines` log
 * lines, the oldest counted as skipped beyond that (a flood must not grow a page that waits).
 */
export class HeldUpdates {
  private items: Update[] = [];
  private lines = 0;

  constructor(readonly maxLines: number) {}

  push(u: Update): void {
    this.items.push(u);
    if (u.type !== 'logs') return;
    this.lines += u.lines.length;
    let i = 0;
    while (this.lines > this.maxLines && i < this.items.length) {
      const old = this.items[i];
      if (old.type === 'logs' && old !== u) {
        const drop = Math.min(old.lines.length, this.lines - this.maxLines);
        this.items[i] = { type: 'logs', lines: old.lines.slice(drop), skipped: old.skipped + drop };
        this.lines -= drop;
      }
      i++;
    }
  }

  get heldLines(): number {
    return this.lines;
  }

  take(): Update[] {
    const out = this.items;
    this.items = [];
    this.lines = 0;
    return out;
  }
}
