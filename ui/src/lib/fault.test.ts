import { describe, expect, it } from 'vitest';
import { EMPTY_FORM, faultBands, faultFromForm, injectedTotals, type FaultView } from './fault';
import type { ClusterEvent } from './types';

const form = (f: Partial<typeof EMPTY_FORM>) => ({ ...EMPTY_FORM, ...f });

describe('faultFromForm', () => {
  it('reads a delay, an abort, a replica and a duration', () => {
    expect(faultFromForm(form({ delayMs: '200', jitterMs: '50', abortPercent: '10', status: '502', replica: '1', forSeconds: '30' }))).toEqual({
      fault: { delay_ms: 200, jitter_ms: 50, delay_percent: 100, abort_percent: 10, abort_status: 502, replica: 1, for_ms: 30000 },
    });
    // A bound number input gives numbers, and null when emptied.
    expect(faultFromForm(form({ delayMs: 300, jitterMs: null, status: null }))).toEqual({
      fault: { delay_ms: 300, jitter_ms: 0, delay_percent: 100, abort_percent: 0, abort_status: 503 },
    });
    expect(faultFromForm(form({ abortPercent: '5' }))).toEqual({ fault: { delay_ms: 0, jitter_ms: 0, delay_percent: 100, abort_percent: 5, abort_status: 503 } });
  });

  it.each([
    [{}, 'give a delay or an abort percentage'],
    [{ abortPercent: '120' }, 'between 0 and 100'],
    [{ abortPercent: '10', status: '200' }, 'from 400 to 599'],
    [{ delayMs: '10', jitterMs: '20' }, 'at most the delay'],
    [{ delayMs: '600001' }, 'at most 10 minutes'],
    [{ delayMs: 'soon' }, 'a number'],
    [{ delayMs: '1.5' }, 'whole milliseconds'],
  ])('refuses %o, saying why', (f, why) => {
    const got = faultFromForm(form(f));
    expect('error' in got && got.error).toContain(why);
  });
});

const ev = (at: number, message: string, service = 'users'): ClusterEvent => ({ seq: at, at: at * 1000, service, replica: null, kind: 'fault', message });

describe('faultBands', () => {
  it('shades from each setting to its clearing, within the window', () => {
    const events = [
      ev(100, 'fault on users: delay 200ms on 100% of requests until cleared'),
      ev(110, 'fault on users: abort 503 on 10% of requests until cleared'),
      ev(120, 'fault on users cleared'),
      ev(130, 'fault on media: delay 1ms on 100% of requests until cleared', 'media'),
      ev(140, 'fault on users: delay 5000ms on 100% of requests for 30s'),
      ev(170, 'fault on users cleared after 30s'),
    ];
    expect(faultBands(events, undefined, 'users', 105, 200)).toEqual([
      { from: 105, to: 120 },
      { from: 140, to: 170 },
    ]);
    expect(faultBands(events, undefined, 'users', 180, 200)).toEqual([]);
  });

  it('runs a fault set now up to the present, even when its event is gone', () => {
    const active: FaultView = { service: 'users', fault: { delay_ms: 1, jitter_ms: 0, delay_percent: 100, abort_percent: 0, abort_status: 503 }, summary: '', since: 150_000 };
    expect(faultBands([], active, 'users', 100, 200)).toEqual([{ from: 150, to: 200 }]);
    expect(faultBands([ev(140, 'fault on users: delay 1ms on 100% of requests until cleared')], active, 'users', 100, 200)).toEqual([{ from: 140, to: 200 }]);
  });
});

describe('injectedTotals', () => {
  it('sums the aborts and averages the delayed seconds', () => {
    expect(injectedTotals([0, 2, 3], [null, 200, 100])).toEqual({ aborts: 5, delayMs: 150 });
    expect(injectedTotals(undefined, undefined)).toEqual({ aborts: 0, delayMs: null });
  });
});
