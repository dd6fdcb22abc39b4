import { describe, expect, it } from 'vitest';
import { defaultForm, formAfterReport, isRunning, DEFAULT_RATE } from './loadform';
import type { LoadReport, ScenarioOutline } from './traffic';

const none = { p50_ms: null, p95_ms: null, p99_ms: null, max_ms: null };
const report = (scenario: string, rate: number, state: LoadReport['state'] = 'running'): LoadReport => ({
  scenario,
  target: '127.0.0.1:7400',
  state,
  rate,
  elapsed_s: 3,
  scheduled: 90,
  sent: 90,
  ok: 90,
  errors: { status_4xx: 0, status_5xx: 0, connect: 0, timeout: 0, dropped: 0, other: 0 },
  in_flight: 1,
  achieved_rps_recent: rate,
  achieved_rps_total: rate,
  latency: none,
  latency_last_second: none,
});
const outline = (name: string): ScenarioOutline => ({ name, target: 'gateway', setup: null, requests: [{ method: 'GET', path: '/', weight: 1 }] });
const SCENARIOS = ['browse', 'login-storm', 'media'].map(outline);

describe('the Load panel form', () => {
  it('shows the defaults when no run is going', () => {
    const defaults = defaultForm(SCENARIOS);
    expect(defaults).toEqual({ scenario: 'browse', rate: DEFAULT_RATE });
    expect(formAfterReport(defaults, null, null)).toEqual(defaults);
    expect(formAfterReport(defaults, null, report('login-storm', 30, 'stopped'))).toEqual(defaults);
    expect(defaultForm([])).toEqual({ scenario: '', rate: DEFAULT_RATE });
  });

  it('shows the running scenario and rate when opened during a run', () => {
    expect(formAfterReport(defaultForm(SCENARIOS), null, report('login-storm', 30))).toEqual({ scenario: 'login-storm', rate: 30 });
    expect(formAfterReport(defaultForm(SCENARIOS), null, report('media', 12.5, 'setup'))).toEqual({ scenario: 'media', rate: 12.5 });
  });

  it('keeps a rate being typed while the same run goes on', () => {
    const typing = { scenario: 'login-storm', rate: 80 };
    expect(formAfterReport(typing, report('login-storm', 30), report('login-storm', 30))).toBe(typing);
  });

  it('follows a rate or a run changed elsewhere', () => {
    const shown = { scenario: 'login-storm', rate: 30 };
    expect(formAfterReport(shown, report('login-storm', 30), report('login-storm', 60))).toEqual({ scenario: 'login-storm', rate: 60 });
    expect(formAfterReport(shown, report('login-storm', 30, 'stopped'), report('browse', 50))).toEqual({ scenario: 'browse', rate: 50 });
  });

  it('leaves the last run in the form when it ends', () => {
    const shown = { scenario: 'login-storm', rate: 30 };
    expect(formAfterReport(shown, report('login-storm', 30), report('login-storm', 30, 'stopped'))).toBe(shown);
  });

  it('knows which states are a run going', () => {
    expect((['setup', 'running', 'draining', 'finished', 'stopped', 'failed'] as const).map((s) => isRunning(report('b', 1, s)))).toEqual([true, true, true, false, false, false]);
    expect(isRunning(null)).toBe(false);
  });
});
