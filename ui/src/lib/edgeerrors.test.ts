import { describe, expect, it } from 'vitest';
import { errorShare, recentCounts, trackEdges, type EdgeHistories } from './edgeerrors';

const edge = (requests: number, errors: number, caller = 'gateway', callee = 'auth') => ({ caller, callee, requests, errors });

/** Polls once a second from t = 0 with these [requests, errors] counts; the history after the last. */
function polls(...counts: [number, number][]): EdgeHistories {
  let h: EdgeHistories = new Map();
  counts.forEach(([r, e], i) => (h = trackEdges(h, [edge(r, e)], i * 1000)));
  return h;
}
const errorsAt = (h: EdgeHistories, now: number) => recentCounts(h, 'gateway>auth', now).errors;

describe('failing edges', () => {
  it('are not failing on errors from before the first poll', () => {
    expect(errorsAt(polls([100, 40]), 0)).toBe(0);
    expect(errorsAt(polls([100, 40], [110, 40]), 1000)).toBe(0);
  });

  it('fail when the error count rises between polls, and count the rise', () => {
    expect(recentCounts(polls([100, 40], [110, 43]), 'gateway>auth', 1000)).toEqual({ requests: 10, errors: 3 });
    expect(recentCounts(polls([100, 40], [110, 43], [130, 45]), 'gateway>auth', 2000)).toEqual({ requests: 30, errors: 5 });
  });

  it('stay failing for the window after the last error, then recover', () => {
    const steady = (n: number): [number, number][] => Array.from({ length: n }, (_, i) => [10 + 10 * i, i === 0 ? 0 : 2]);
    expect(errorsAt(polls(...steady(6)), 5000)).toBe(2);
    expect(errorsAt(polls(...steady(6)), 6000)).toBe(0);
    expect(errorsAt(polls(...steady(7)), 6000)).toBe(0);
  });

  it('start again when a count goes down (a new engine)', () => {
    expect(errorsAt(polls([0, 0], [100, 50], [10, 3]), 2000)).toBe(0);
    expect(errorsAt(polls([0, 0], [100, 50], [10, 3], [20, 4]), 3000)).toBe(1);
  });

  it('are judged per edge', () => {
    let h: EdgeHistories = trackEdges(new Map(), [edge(0, 0), edge(0, 0, 'users', 'analytics')], 0);
    h = trackEdges(h, [edge(10, 0), edge(10, 7, 'users', 'analytics')], 1000);
    expect(recentCounts(h, 'gateway>auth', 1000)).toEqual({ requests: 10, errors: 0 });
    expect(recentCounts(h, 'users>analytics', 1000)).toEqual({ requests: 10, errors: 7 });
    expect(recentCounts(h, 'media>analytics', 1000)).toEqual({ requests: 0, errors: 0 });
  });
});

describe('errorShare', () => {
  it('says what share of the recent calls failed', () => {
    expect([errorShare({ requests: 50, errors: 17 }), errorShare({ requests: 1000, errors: 1 }), errorShare({ requests: 5, errors: 5 }), errorShare({ requests: 9, errors: 0 })]).toEqual([
      '34% errors',
      '<1% errors',
      '100% errors',
      '',
    ]);
  });
});
