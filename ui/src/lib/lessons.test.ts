import { describe, expect, it } from 'vitest';
import { checkViews, controls, markdown, summaryOf, type StepOutline } from './lessons';
import type { CheckResult, LessonProgress, LessonStep } from './types';

const outline: StepOutline = {
  name: 'auth-down',
  text: 'Stop **auth**.',
  actions: ['stop auth'],
  wait_s: 3,
  checks: ['media rps over 5 s: above 0 req/s', 'media error_pct over 5 s: at most 0 %'],
  services: ['auth', 'media'],
};

function result(outcome: CheckResult['outcome'], sentence: string): CheckResult {
  return { key: 'k', measure: 'rps', subject: 'media', window_s: 5, value: 3.8, bound: 0, comparison: 'above', outcome, sentence };
}

function step(state: LessonStep['state'], checks: CheckResult[] = []): LessonStep {
  return { name: 'auth-down', text: '', state, started_at: null, actions_done: [], measuring_from: null, checks, error: null };
}

function progress(over: Partial<LessonProgress>): LessonProgress {
  return {
    name: 'fault-isolation',
    title: 'Fault isolation',
    claim: 'c',
    state: 'running',
    current: 0,
    step_by_step: false,
    awaiting: false,
    steps: [step('pending')],
    restore_problems: [],
    started_at: 0,
    finished_at: null,
    ...over,
  };
}

describe('check states', () => {
  it('show the question until measured, then each outcome with its sentence', () => {
    expect(checkViews(outline, undefined).map((c) => c.state)).toEqual(['pending', 'pending']);
    expect(checkViews(outline, step('acting'))[0]).toEqual({ state: 'pending', text: outline.checks[0], value: null, bound: null });
    expect(checkViews(outline, step('measuring')).map((c) => c.state)).toEqual(['measuring', 'measuring']);
    const done = checkViews(outline, step('done', [result('passed', 'media answered 3.8 requests a second'), result('inconclusive', 'not measured fairly')]));
    expect(done.map((c) => [c.state, c.text, c.value, c.bound])).toEqual([
      ['passed', 'media answered 3.8 requests a second', 3.8, 0],
      ['inconclusive', 'not measured fairly', 3.8, 0],
    ]);
    expect(checkViews(outline, step('done', [result('failed', 'media p95 … not below')]))[0].state).toBe('failed');
  });
});

describe('controls', () => {
  it('start only when no lesson runs; next only while it waits; stop only while it runs', () => {
    expect(controls('fault-isolation', undefined)).toEqual({ start: true, next: false, rest: false, stop: false });
    expect(controls('fault-isolation', progress({ state: 'passed' }))).toEqual({ start: true, next: false, rest: false, stop: false });
    expect(controls('fault-isolation', progress({}))).toEqual({ start: false, next: false, rest: false, stop: true });
    expect(controls('fault-isolation', progress({ step_by_step: true, awaiting: true }))).toEqual({ start: false, next: true, rest: true, stop: true });
    expect(controls('fault-isolation', progress({ state: 'restoring' }))).toEqual({ start: false, next: false, rest: false, stop: false });
    // Another lesson runs: nothing here can start or act on it.
    expect(controls('independent-scaling', progress({ step_by_step: true, awaiting: true }))).toEqual({ start: false, next: false, rest: false, stop: false });
  });
});

describe('summary', () => {
  it('says what was proven, failed or not measured', () => {
    const p = progress({ state: 'failed', steps: [step('done', [result('passed', 'a'), result('failed', 'b'), result('passed', 'c')])] });
    expect(summaryOf(p)).toEqual({ headline: 'Not proven: 1 of 3 checks failed.', proven: ['a', 'c'], failed: ['b'], unmeasured: [] });
    expect(summaryOf(progress({ state: 'passed', steps: [step('done', [result('passed', 'a')])] })).headline).toBe('Proven: all 1 check passed.');
    expect(summaryOf(progress({ state: 'inconclusive', steps: [step('done', [result('inconclusive', 'x')])] })).headline).toMatch(/^Not measured fairly: 1 of 1/);
  });
});

describe('markdown', () => {
  it('renders paragraphs, bold, emphasis and code, and escapes markup', () => {
    expect(markdown('Stop **auth**: the\ngateway answers `503`.\n\nThen *wait*.')).toBe(
      '<p>Stop <strong>auth</strong>: the gateway answers <code>503</code>.</p><p>Then <em>wait</em>.</p>',
    );
    expect(markdown('<img src=x onerror=alert(1)> & "q"')).toBe('<p>&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;</p>');
  });
});
