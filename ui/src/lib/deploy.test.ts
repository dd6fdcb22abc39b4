import { describe, expect, it } from 'vitest';
import { parseChange, progressText, revisionTraffic, rolloutLine } from './deploy';
import type { RolloutView } from './types';

describe('the Deploy dialog', () => {
  it('reads KEY=VALUE lines and -KEY removals', () => {
    expect(parseChange('VERSION=2\n\n# a comment\n-DEBUG\nunset OLD\nEMPTY=\nURL=http://x?a=b')).toEqual({
      change: { set: { VERSION: '2', EMPTY: '', URL: 'http://x?a=b' }, unset: ['DEBUG', 'OLD'] },
    });
  });
  it('says what is wrong with a line, or that nothing is asked', () => {
    expect(parseChange('VERSION 2')).toEqual({ error: 'line 1: write KEY=VALUE, or -KEY to remove one' });
    expect(parseChange('A=1\n2X=3')).toEqual({ error: 'line 2: write KEY=VALUE, or -KEY to remove one' });
    expect(parseChange('-bad name')).toEqual({ error: 'line 1: `bad name` is not a variable name' });
    expect(parseChange('  \n# only a comment')).toEqual({ error: 'nothing to deploy: write KEY=VALUE on a line' });
  });
});

describe('traffic by revision', () => {
  it('shows each revision that served: mean rate, weighted error share, worst p95', () => {
    const series = [
      { revision: 3, t: [1, 2, 3], rps: [10, 10, 0], error_pct: [0, 10, 0], p95_ms: [2, 4, null] },
      { revision: 4, t: [1, 2, 3], rps: [0, 5, 15], error_pct: [0, 0, 0], p95_ms: [null, 3, 5] },
      { revision: 2, t: [1, 2, 3], rps: [0, 0, 0], error_pct: [0, 0, 0], p95_ms: [null, null, null] },
    ];
    expect(revisionTraffic(series, 3)).toEqual([
      { revision: 3, rps: 20 / 3, errorPct: 5, p95Ms: 4 },
      { revision: 4, rps: 20 / 3, errorPct: 0, p95Ms: 5 },
    ]);
  });
});

describe('rollout progress', () => {
  const rollout = (over: Partial<RolloutView>): RolloutView => ({
    from: 3, to: 4, state: 'progressing', updated: 2, desired: 3, reason: null, started_at: 0, finished_at: null, deadline_ms: 30000, ...over,
  });
  it('reads as a sentence with its share done', () => {
    expect(progressText(1, 1, 2)).toBe('1 of 1 replica on revision 2');
    expect(rolloutLine(rollout({}))).toEqual({ text: 'rolling out: 2 of 3 replicas on revision 4', done: 2 / 3 });
    expect(rolloutLine(rollout({ state: 'complete', updated: 3 })).text).toBe('rollout of revision 4 complete: 3 of 3 replicas on revision 4');
    expect(rolloutLine(rollout({ state: 'rolled-back', updated: 0 })).text).toBe('rolled back to revision 3');
    expect(rolloutLine(rollout({ desired: 0, updated: 0 })).done).toBe(1);
  });
});
