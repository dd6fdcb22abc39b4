// Lessons as the UI sees them (docs/api.md "Lessons"): the bundled list with each step's
// actions and checks in words, the calls that run one, and the pure rules of the Lessons
// view — what each check shows, which controls apply, what the summary says.

import type { CheckResult, LessonProgress, LessonStep } from './types';

/** `LessonOutline` in core/src/lessons/outline.rs. */
export interface LessonOutline {
  name: string;
  title: string;
  claim: string;
  services: string[];
  steps: StepOutline[];
  checks: number;
}

export interface StepOutline {
  name: string;
  /** Markdown. */
  text: string;
  actions: string[];
  wait_s: number | null;
  checks: string[];
  /** The services its actions and checks name: the charts its page shows. */
  services: string[];
}

export type Pace = 'continuous' | 'step-by-step';

export interface LessonApi {
  lessons(): Promise<LessonOutline[]>;
  startLesson(name: string, pace: Pace): Promise<LessonProgress>;
  /** The next step of a lesson run step by step, or every step left. */
  advanceLesson(rest: boolean): Promise<LessonProgress>;
  stopLesson(): Promise<LessonProgress>;
}

/** What a check row shows: before it is measured, its question; after, its answer. */
export interface CheckView {
  state: 'pending' | 'measuring' | 'passed' | 'failed' | 'inconclusive';
  text: string;
  value: number | null;
  bound: number | null;
}

/** The rows of a step's checks: the outline's words until the step is measured, then each result. */
export function checkViews(outline: StepOutline, step: LessonStep | undefined): CheckView[] {
  return outline.checks.map((words, i) => {
    const result: CheckResult | undefined = step?.checks[i];
    if (result) return { state: result.outcome, text: result.sentence, value: result.value, bound: result.bound };
    const state = step?.state === 'measuring' ? 'measuring' : 'pending';
    return { state, text: words, value: null, bound: null };
  });
}

/** The progress of this lesson, if the one running (or last run) is it. */
export function progressOf(name: string, progress: LessonProgress | undefined): LessonProgress | undefined {
  return progress && progress.name === name ? progress : undefined;
}

export function isRunning(p: LessonProgress | undefined): boolean {
  return !!p && (p.state === 'running' || p.state === 'restoring');
}

export interface Controls {
  /** Start it (step by step, or all at once): nothing else runs. */
  start: boolean;
  /** Run the step it waits at. */
  next: boolean;
  /** Run every step left. */
  rest: boolean;
  stop: boolean;
}

/** Which controls apply to lesson `name`, given the cluster's lesson progress. */
export function controls(name: string, progress: LessonProgress | undefined): Controls {
  const running = isRunning(progress);
  const mine = running && progress?.name === name;
  const live = mine && progress?.state === 'running';
  return {
    start: !running,
    next: !!(live && progress?.awaiting),
    rest: !!(live && progress?.step_by_step),
    stop: !!live,
  };
}

/** The end of a run in a few lines: the claim's verdict, then the sentences by outcome. */
export function summaryOf(p: LessonProgress): { headline: string; proven: string[]; failed: string[]; unmeasured: string[] } {
  const all = p.steps.flatMap((s) => s.checks);
  const by = (o: CheckResult['outcome']) => all.filter((c) => c.outcome === o).map((c) => c.sentence);
  const n = all.length;
  const headlines: Record<LessonProgress['state'], string> = {
    passed: `Proven: all ${n} check${n === 1 ? '' : 's'} passed.`,
    failed: `Not proven: ${by('failed').length} of ${n} checks failed.`,
    inconclusive: `Not measured fairly: ${by('inconclusive').length} of ${n} checks could not be measured on this machine; nothing was disproven.`,
    stopped: 'Stopped before its end.',
    broken: `A step could not be carried out: ${p.steps.find((s) => s.error)?.error ?? ''}`,
    running: 'Running…',
    restoring: 'Putting the cluster back as it was…',
  };
  return { headline: headlines[p.state], proven: by('passed'), failed: by('failed'), unmeasured: by('inconclusive') };
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A step's short Markdown as HTML: paragraphs, **bold**, *emphasis* and `code`; everything
 *  else is text (escaped first, so a lesson file cannot inject markup). */
export function markdown(text: string): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((para) => {
      const html = escape(para.replace(/\s*\n\s*/g, ' '))
        .replace(/`([^`]+)`/g, '<code>$1</code>')
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/\*([^*]+)\*/g, '<em>$1</em>');
      return `<p>${html}</p>`;
    })
    .join('');
}

const CHECK_TONES: Record<CheckView['state'], 'ok' | 'bad' | 'idle' | 'progress'> = {
  pending: 'idle',
  measuring: 'progress',
  passed: 'ok',
  failed: 'bad',
  inconclusive: 'idle',
};

/** Green, red, or grey for a check that could not be measured (and for one not measured yet). */
export function checkTone(state: CheckView['state']): 'ok' | 'bad' | 'idle' | 'progress' {
  return CHECK_TONES[state];
}

const LESSON_TONES: Record<LessonProgress['state'], 'ok' | 'bad' | 'idle' | 'progress' | 'warn'> = {
  running: 'progress',
  restoring: 'progress',
  passed: 'ok',
  failed: 'bad',
  inconclusive: 'warn',
  stopped: 'idle',
  broken: 'bad',
};

export function lessonTone(state: LessonProgress['state']): 'ok' | 'bad' | 'idle' | 'progress' | 'warn' {
  return LESSON_TONES[state];
}
