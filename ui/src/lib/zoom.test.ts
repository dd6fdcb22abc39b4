import { describe, expect, it } from 'vitest';
import { clampZoom, nextZoom, parseZoom, zoomAction, ZOOM_MAX, ZOOM_MIN } from './zoom';

const key = (k: string, mods: { ctrl?: boolean; meta?: boolean; alt?: boolean; code?: string } = { ctrl: true }) => ({
  key: k,
  code: mods.code,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  altKey: !!mods.alt,
});

describe('zoom keys', () => {
  it('reads Ctrl + (or =), Ctrl − and Ctrl 0, on the keypad too', () => {
    expect(['+', '=', '-', '_', '0'].map((k) => zoomAction(key(k)))).toEqual(['in', 'in', 'out', 'out', 'reset']);
    expect(zoomAction(key('Add', { ctrl: true, code: 'NumpadAdd' }))).toBe('in');
    expect(zoomAction(key('Subtract', { ctrl: true, code: 'NumpadSubtract' }))).toBe('out');
    expect(zoomAction(key('0', { meta: true }))).toBe('reset');
  });
  it('leaves other keys alone', () => {
    expect(zoomAction(key('+', {}))).toBeNull();
    expect(zoomAction(key('+', { ctrl: true, alt: true }))).toBeNull();
    expect(zoomAction(key('f'))).toBeNull();
    expect(zoomAction(key('9'))).toBeNull();
  });
});

describe('zoom steps', () => {
  it('steps up and down from 100 %', () => {
    expect(nextZoom(1, 'in')).toBe(1.1);
    expect(nextZoom(1.1, 'in')).toBe(1.25);
    expect(nextZoom(1, 'out')).toBe(0.9);
    expect(nextZoom(1.75, 'reset')).toBe(1);
  });
  it('stops at 80 % and 200 %', () => {
    expect(nextZoom(ZOOM_MAX, 'in')).toBe(2);
    expect(nextZoom(ZOOM_MIN, 'out')).toBe(0.8);
    let z = 1;
    for (let i = 0; i < 20; i++) z = nextZoom(z, 'in');
    expect(z).toBe(2);
    for (let i = 0; i < 20; i++) z = nextZoom(z, 'out');
    expect(z).toBe(0.8);
  });
  it('goes to the next step from a value between steps', () => {
    expect(nextZoom(1.3, 'in')).toBe(1.5);
    expect(nextZoom(1.3, 'out')).toBe(1.25);
    expect(nextZoom(5, 'out')).toBe(1.75);
  });
  it('clamps and reads a kept value', () => {
    expect([clampZoom(0.5), clampZoom(3), clampZoom(NaN), clampZoom(-1), clampZoom(1.5)]).toEqual([0.8, 2, 1, 1, 1.5]);
    expect([parseZoom(null), parseZoom(''), parseZoom('1.25'), parseZoom('9'), parseZoom('big')]).toEqual([1, 1, 1.25, 2, 1]);
  });
});
