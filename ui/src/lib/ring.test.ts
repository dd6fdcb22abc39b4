import { describe, expect, it } from 'vitest';
import { Ring } from './ring';

describe('Ring', () => {
  it('keeps items oldest first until full', () => {
    const r = new Ring<number>(3);
    r.pushAll([1, 2]);
    expect(r.toArray()).toEqual([1, 2]);
    expect(r.length).toBe(2);
    expect(r.dropped).toBe(0);
  });
  it('drops the oldest when full and counts the drops', () => {
    const r = new Ring<number>(3);
    r.pushAll([1, 2, 3, 4, 5]);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.length).toBe(3);
    expect(r.dropped).toBe(2);
    expect(r.get(0)).toBe(3);
    expect(r.get(2)).toBe(5);
    expect(r.get(3)).toBeUndefined();
    expect(r.get(-1)).toBeUndefined();
  });
  it('stays bounded over many pushes', () => {
    const r = new Ring<number>(20_000);
    for (let i = 0; i < 100_000; i++) r.push(i);
    expect(r.length).toBe(20_000);
    expect(r.get(0)).toBe(80_000);
    expect(r.get(19_999)).toBe(99_999);
  });
  it('empties on clear', () => {
    const r = new Ring<string>(2);
    r.pushAll(['a', 'b', 'c']);
    r.clear();
    expect(r.toArray()).toEqual([]);
    r.push('d');
    expect(r.toArray()).toEqual(['d']);
  });
  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new Ring(0)).toThrow(RangeError);
    expect(() => new Ring(1.5)).toThrow(RangeError);
  });
});
