import { describe, expect, it } from 'vitest';
import { NO_FILTER, filterLines, lineMatcher, lineTag } from './logfilter';
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
