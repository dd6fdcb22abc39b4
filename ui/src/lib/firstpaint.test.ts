import { describe, expect, it, vi } from 'vitest';
import { FIRST_LIST_MARK, markFirstList } from './firstpaint';

describe('the first-list mark', () => {
  it('is set once, two frames after the first call', () => {
    const frames: FrameRequestCallback[] = [];
    vi.stubGlobal('requestAnimationFrame', (cb: FrameRequestCallback) => frames.push(cb));
    const runFrame = () => frames.splice(0).forEach((cb) => cb(performance.now()));
    markFirstList();
    markFirstList();
    runFrame();
    expect(performance.getEntriesByName(FIRST_LIST_MARK)).toHaveLength(0);
    runFrame();
    expect(performance.getEntriesByName(FIRST_LIST_MARK)).toHaveLength(1);
    markFirstList();
    runFrame();
    runFrame();
    expect(performance.getEntriesByName(FIRST_LIST_MARK)).toHaveLength(1);
    vi.unstubAllGlobals();
  });
});
