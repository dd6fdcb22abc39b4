import { describe, expect, it } from 'vitest';
import { atBottom, visibleRange } from './virtual';

describe('visibleRange', () => {
  it('renders the rows in view plus the overscan', () => {
    // 400px / 20px = 20 rows in view (+1 partial), starting at row 50.
    expect(visibleRange(1000, 400, 20, 20_000, 10)).toEqual({ start: 40, end: 81 });
  });
  it('clamps at the top and the bottom', () => {
    expect(visibleRange(0, 400, 20, 20_000, 10)).toEqual({ start: 0, end: 31 });
    expect(visibleRange(20_000 * 20, 400, 20, 20_000, 10)).toEqual({ start: 19_989, end: 20_000 });
    expect(visibleRange(-50, 400, 20, 5, 10)).toEqual({ start: 0, end: 5 });
  });
  it('renders a bounded number of rows however long the list', () => {
    const r = visibleRange(123_456, 900, 20, 1_000_000, 10);
    expect(r.end - r.start).toBeLessThanOrEqual(Math.ceil(900 / 20) + 1 + 2 * 10);
  });
  it('renders nothing for an empty list', () => {
    expect(visibleRange(0, 400, 20, 0)).toEqual({ start: 0, end: 0 });
  });
});

describe('atBottom', () => {
  it('is true at the end of the list, within the slack', () => {
    expect(atBottom(600, 400, 1000)).toBe(true);
    expect(atBottom(597, 400, 1000, 4)).toBe(true);
    expect(atBottom(500, 400, 1000, 4)).toBe(false);
  });
});
