import { describe, expect, it } from 'vitest';
import { sparkline } from './sparkline';

const box = { width: 100, height: 22, inset: 1 };

describe('sparkline', () => {
  it('draws nothing for no values or only gaps', () => {
    expect(sparkline([], box)).toEqual({ path: '', points: 0, last: null, top: 0 });
    expect(sparkline([null, null, undefined], box)).toEqual({ path: '', points: 0, last: null, top: 0 });
  });

  it('draws an idle series as a flat line along the bottom', () => {
    const s = sparkline([0, 0, 0], box);
    expect(s.path).toBe('M0 21 L50 21 L100 21');
    expect([s.points, s.last, s.top]).toEqual([3, 0, 0]);
  });

  it('scales the largest value to the top and zero to the bottom, oldest on the left', () => {
    const s = sparkline([0, 5, 10], box);
    expect(s.path).toBe('M0 21 L50 11 L100 1');
    expect([s.points, s.last, s.top]).toEqual([3, 10, 10]);
  });

  it('keeps a floor for the top so small values stay small', () => {
    expect(sparkline([1, 1], { ...box, minTop: 4 }).path).toBe('M0 16 L100 16');
    expect(sparkline([8, 8], { ...box, minTop: 4 }).top).toBe(8);
  });

  it('breaks the line at a gap and starts it again after', () => {
    const s = sparkline([2, 2, null, 2, 2], box);
    expect(s.path).toBe('M0 1 L25 1 M75 1 L100 1');
    expect([s.points, s.last]).toEqual([4, 2]);
  });

  it('shows a point alone between gaps as a short dash, inward at the right edge', () => {
    expect(sparkline([null, 4, null], box).path).toBe('M50 1 h2');
    expect(sparkline([null, null, 4], box).path).toBe('M100 1 h-2');
    expect(sparkline([4], box).path).toBe('M100 1 h-2');
  });

  it('reads the newest value past trailing gaps', () => {
    expect(sparkline([3, 7, null], box).last).toBe(7);
  });

  it('rounds to a tenth of a pixel and clamps negatives to the bottom', () => {
    expect(sparkline([0, 1, 2, 3], { width: 10, height: 10, inset: 0 }).path).toBe('M0 10 L3.3 6.7 L6.7 3.3 L10 0');
    expect(sparkline([-1, 1], { width: 10, height: 10, inset: 0 }).path).toBe('M0 10 L10 0');
  });
});
