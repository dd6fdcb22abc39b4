import { describe, expect, it } from 'vitest';
import { describeTarget, targetLine } from './autoscale';
import type { AutoscalerView } from './types';

const view = (metric: AutoscalerView['target']['metric'], value: number): AutoscalerView => ({
  service: 'auth',
  on: true,
  min: 1,
  max: 4,
  target: { metric, value },
  period_ms: 5000,
  window_ms: 30000,
  last: null,
  window: [],
  note: null,
});

describe('an autoscaler on the service page', () => {
  it('names its target in words', () => {
    expect(describeTarget(view('p95-ms', 300).target)).toBe('p95 300 ms');
    expect(describeTarget(view('rps-per-replica', 12.5).target)).toBe('12.5 rps per replica');
    expect(describeTarget(view('cpu-percent-per-replica', 70).target)).toBe('70 % CPU per replica');
  });

  it('draws its target on the chart of its metric, per replica times the ready ones', () => {
    expect(targetLine(view('p95-ms', 300), 2)).toEqual({ key: 'p95_ms', value: 300 });
    expect(targetLine(view('rps-per-replica', 10), 3)).toEqual({ key: 'rps', value: 30 });
    expect(targetLine(view('cpu-percent-per-replica', 70), 2)).toEqual({ key: 'cpu_percent', value: 140 });
    expect(targetLine(view('rps-per-replica', 10), 0)).toBeNull();
    expect(targetLine(view('in-flight-per-replica', 2), 2)).toBeNull();
    expect(targetLine(undefined, 2)).toBeNull();
  });
});
