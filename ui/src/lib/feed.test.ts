import { describe, expect, it } from 'vitest';
import { EventFeed, HeldUpdates, LogFeed } from './feed';
import type { ClusterEvent, LogLine } from './types';

const line = (service: string, seq: number): LogLine => ({ seq, at: seq, service, replica: 0, stream: 'stdout', level: 'info', text: `${service} ${seq}` });
const event = (seq: number): ClusterEvent => ({ seq, at: seq, service: 'media', replica: 1, kind: 'killed', message: 'exited with signal 9 (SIGKILL)' });

describe('LogFeed', () => {
  it('keeps each (service, seq) once when history and live feed overlap', () => {
    const f = new LogFeed(100);
    expect(f.add([line('auth', 1), line('auth', 2), line('media', 1)])).toBe(3);
    // The live feed repeats what the history already held, then goes on.
    expect(f.add([line('auth', 2), line('media', 1), line('auth', 3)])).toBe(1);
    expect(f.toArray().map((l) => l.text)).toEqual(['auth 1', 'auth 2', 'media 1', 'auth 3']);
  });
  it('adds up the lines the engine skipped', () => {
    const f = new LogFeed(10);
    f.add([line('auth', 1)], 0);
    f.add([line('auth', 50)], 48);
    f.add([], 2);
    expect(f.skipped).toBe(50);
  });
  it('is bounded', () => {
    const f = new LogFeed(5);
    f.add(Array.from({ length: 12 }, (_, i) => line('gateway', i + 1)));
    expect(f.length).toBe(5);
    expect(f.toArray()[0].seq).toBe(8);
  });
});

describe('EventFeed', () => {
  it('lists newest first, each seq once', () => {
    const f = new EventFeed(10);
    expect(f.add([event(1), event(2), event(3)])).toBe(true);
    expect(f.add([event(3)])).toBe(false);
    expect(f.add([event(5), event(4)])).toBe(true);
    expect(f.list().map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
  });
  it('keeps only the newest `capacity` events', () => {
    const f = new EventFeed(3);
    f.add([1, 2, 3, 4, 5].map(event));
    expect(f.list().map((e) => e.seq)).toEqual([5, 4, 3]);
  });
});

describe('HeldUpdates', () => {
  const logs = (from: number, n: number, skipped = 0) => ({ type: 'logs' as const, lines: Array.from({ length: n }, (_, i) => line('yes', from + i)), skipped });
  it('keeps everything within its bound, in order', () => {
    const h = new HeldUpdates(100);
    h.push(logs(0, 40));
    h.push({ type: 'event', ...event(1) });
    h.push(logs(40, 40, 5));
    expect(h.heldLines).toBe(80);
    const out = h.take();
    expect(out.map((u) => u.type)).toEqual(['logs', 'event', 'logs']);
    expect(h.take()).toEqual([]);
  });
  it('drops the oldest lines past its bound and counts them as skipped', () => {
    const h = new HeldUpdates(100);
    for (let i = 0; i < 10; i++) h.push(logs(i * 30, 30, i === 0 ? 7 : 0));
    expect(h.heldLines).toBe(100);
    const out = h.take().filter((u) => u.type === 'logs');
    const kept = out.flatMap((u) => u.lines.map((l) => l.seq));
    const skipped = out.reduce((n, u) => n + u.skipped, 0);
    // The newest 100 of 300 lines, and 200 + the 7 the engine had skipped.
    expect(kept).toEqual(Array.from({ length: 100 }, (_, i) => 200 + i));
    expect(skipped).toBe(207);
  });
});
