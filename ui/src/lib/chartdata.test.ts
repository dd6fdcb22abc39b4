import { describe, expect, it } from 'vitest';
import { chartColumns, formatLatest, latestValue, markersFrom, spreadBars, visibleEdges, xRange } from './chartdata';
import { emptySeries } from './traffic';
import type { ClusterEvent } from './types';

const ev = (service: string, kind: ClusterEvent['kind'], at: number): ClusterEvent => ({ seq: at, at, service, replica: 0, kind, message: kind });

describe('chartColumns', () => {
  it('turns memory into MiB and keeps gaps', () => {
    const s = { ...emptySeries('a'), t: [1, 2], rss_bytes: [2 * 1024 * 1024, null], rps: [3, 4] };
    expect(chartColumns(s, 'rss_mib')).toEqual([[1, 2], [2, null]]);
    expect(chartColumns(s, 'rps')).toEqual([[1, 2], [3, 4]]);
  });
});

describe('latestValue and formatLatest', () => {
  it('reads the newest value that is not a gap', () => {
    const s = { ...emptySeries('a'), t: [1, 2, 3], rps: [3, 4, 0], p95_ms: [5, 7.25, null], rss_bytes: [null, null, null] };
    expect(latestValue(s, 'rps')).toBe(0);
    expect(latestValue(s, 'p95_ms')).toBe(7.25);
    expect(latestValue(s, 'rss_mib')).toBeNull();
    expect(latestValue(emptySeries('a'), 'rps')).toBeNull();
  });
  it('keeps two decimals for small values only', () => {
    expect([formatLatest(null), formatLatest(0), formatLatest(0.5), formatLatest(48), formatLatest(123.45)]).toEqual(['–', '0.0', '0.50', '48.0', '123.5']);
  });
});

describe('markersFrom', () => {
  it('keeps scaled, restarted and killed events of the service inside the window', () => {
    const events = [ev('a', 'scaled', 10_000), ev('a', 'killed', 20_000), ev('a', 'ready', 21_000), ev('b', 'scaled', 15_000), ev('a', 'restarted', 99_000)];
    expect(markersFrom(events, 'a', 5, 30).map((m) => [m.t, m.kind])).toEqual([
      [10, 'scaled'],
      [20, 'killed'],
    ]);
  });
});

describe('visibleEdges and spreadBars', () => {
  it('drops edges to unknown services and without traffic', () => {
    const lat = { p50_ms: null, p95_ms: null, p99_ms: null, max_ms: null };
    const edge = (caller: string, callee: string, requests: number) => ({ caller, callee, rps: 1, requests, errors: 0, latency: lat });
    const t = { nodes: [], edges: [edge('external', 'a', 3), edge('a', 'b', 2), edge('a', 'zz', 2), edge('b', 'a', 0)] };
    expect(visibleEdges(t, new Set(['a', 'b'])).map((e) => `${e.caller}>${e.callee}`)).toEqual(['external>a', 'a>b']);
  });
  it('shows every replica, a new one at 0 %', () => {
    expect(spreadBars([{ replica: 1, requests: 5, share: 0.5 }, { replica: 0, requests: 5, share: 0.5 }], [0, 1, 2])).toEqual([
      { replica: 0, pct: 50, requests: 5 },
      { replica: 1, pct: 50, requests: 5 },
      { replica: 2, pct: 0, requests: 0 },
    ]);
  });
});

describe('xRange', () => {
  const now = 10_000;
  const seconds = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it.each([
    ['no data yet: the whole window', [], 60, [now - 60, now]],
    ['10 s of data fill the width', seconds(now - 10, now - 1), 60, [now - 10, now]],
    ['a series as old as the window', seconds(now - 60, now - 1), 60, [now - 60, now]],
    ['an old series: the last window', seconds(now - 900, now - 1).slice(-300), 300, [now - 300, now]],
    ['one point still gets a few seconds', [now - 1], 60, [now - 5, now]],
  ] as const)('%s', (_, t, windowS, want) => {
    expect(xRange(t, windowS, now)).toEqual(want);
  });

  it('follows a change of window: a 2-minute-old series fills 5 and 15 minutes, not 1', () => {
    const t = seconds(now - 120, now - 1);
    expect(xRange(t.slice(-60), 60, now)).toEqual([now - 60, now]);
    expect(xRange(t, 300, now)).toEqual([now - 120, now]);
    expect(xRange(t, 900, now)).toEqual([now - 120, now]);
  });

  it('never ends before the newest point', () => {
    expect(xRange([now - 20, now + 2], 60, now)).toEqual([now - 20, now + 2]);
  });
});
