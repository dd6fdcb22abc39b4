import { describe, expect, it } from 'vitest';
import { FilteredLog, NO_FILTER, filterLines, lineMatcher, lineTag } from './logfilter';
import type { LogFilter } from './logfilter';
import type { LogLine } from './types';

let seq = 0;
function line(service: string, replica: number, level: LogLine['level'], text: string): LogLine {
  return { seq: ++seq, at: 0, service, replica, stream: 'stdout', level, text };
}

const LINES: LogLine[] = [
  line('gateway', 0, 'info', 'GET /api/home 200'),
  line('auth', 0, 'warn', 'Slow LOGIN for alice'),
  line('auth', 1, 'error', 'login failed: bad password'),
  line('media', 2, 'debug', 'thumbnail cache hit'),
  line('analytics', 0, null, 'plain text from python'),
  line('media', 0, 'trace', 'tick'),
];

const texts = (ls: LogLine[]) => ls.map((l) => l.text);

describe('log filter', () => {
  it('keeps everything with no filter', () => {
    expect(filterLines(LINES, NO_FILTER).lines).toHaveLength(LINES.length);
  });
  it('filters by service and replica', () => {
    expect(texts(filterLines(LINES, { ...NO_FILTER, service: 'auth' }).lines)).toEqual(['Slow LOGIN for alice', 'login failed: bad password']);
    expect(texts(filterLines(LINES, { ...NO_FILTER, service: 'auth', replica: 1 }).lines)).toEqual(['login failed: bad password']);
    expect(filterLines(LINES, { ...NO_FILTER, replica: 0 }).lines.map((l) => l.service)).toEqual(['gateway', 'auth', 'analytics', 'media']);
  });
  it('keeps lines at the level or above, and lines with no level', () => {
    expect(texts(filterLines(LINES, { ...NO_FILTER, level: 'warn' }).lines)).toEqual([
      'Slow LOGIN for alice',
      'login failed: bad password',
      'plain text from python',
    ]);
    expect(filterLines(LINES, { ...NO_FILTER, level: 'trace' }).lines).toHaveLength(LINES.length);
  });
  it('matches text case-insensitively, ignoring surrounding spaces', () => {
    expect(texts(filterLines(LINES, { ...NO_FILTER, text: '  login ' }).lines)).toEqual(['Slow LOGIN for alice', 'login failed: bad password']);
    expect(filterLines(LINES, { ...NO_FILTER, text: 'no such text' }).lines).toHaveLength(0);
  });
  it('combines every criterion', () => {
    const m = lineMatcher({ service: 'auth', replica: 1, level: 'error', text: 'PASSWORD' });
    expect(LINES.filter(m).map((l) => l.seq)).toEqual([LINES[2].seq]);
  });
  it('counts lines per service before filtering', () => {
    const r = filterLines(LINES, { ...NO_FILTER, text: 'tick' });
    expect(r.lines).toHaveLength(1);
    expect(Object.fromEntries(r.perService)).toEqual({ gateway: 1, auth: 2, media: 2, analytics: 1 });
  });
  it('tags a line with its service and replica', () => {
    expect(lineTag(LINES[3])).toBe('media-2');
  });
});

describe('FilteredLog (incremental)', () => {
  const SERVICES = ['gateway', 'auth', 'media'];
  const LEVEL_LIST = [null, 'debug', 'info', 'warn', 'error'] as const;
  // A deterministic pseudo-random stream, so a failure can be replayed.
  let state = 7;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const seqs = new Map<string, number>();
  function randomLine(): LogLine {
    const service = SERVICES[rand(SERVICES.length)];
    const s = (seqs.get(service) ?? 0) + 1;
    seqs.set(service, s);
    return { seq: s, at: s, service, replica: rand(3), stream: 'stdout', level: LEVEL_LIST[rand(LEVEL_LIST.length)], text: `request ${rand(50)} took ${rand(900)}ms` };
  }

  it('always equals a full filter of the buffer, across appends, drops and filter changes', async () => {
    const { LogFeed } = await import('./feed');
    const feed = new LogFeed(500);
    const view = new FilteredLog();
    const filters: LogFilter[] = [
      NO_FILTER,
      { ...NO_FILTER, text: 'request 1' },
      { ...NO_FILTER, service: 'auth', level: 'warn' },
      { service: 'media', replica: 2, level: null, text: 'TOOK' },
    ];
    for (let round = 0; round < 60; round++) {
      feed.add(Array.from({ length: rand(80) }, randomLine));
      const f = filters[Math.floor(round / 15) % filters.length];
      const expected = filterLines(feed.toArray(), f).lines;
      expect(view.update(feed, f)).toEqual(expected);
    }
    expect(feed.total).toBeGreaterThan(feed.length); // drops happened
    const counted = Object.fromEntries(filterLines(feed.toArray(), NO_FILTER).perService);
    expect(Object.fromEntries(feed.perService)).toEqual(counted);
  });
});
