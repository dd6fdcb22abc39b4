// What the Load panel's scenario picker and rate field show. Opened while a run goes (started
// here, from the CLI, or before the view was left), they show that run, not the defaults; while
// it goes, a change made elsewhere (another rate) shows too, but what the user types stays.

import type { LoadReport, ScenarioOutline } from './traffic';

export interface LoadForm {
  scenario: string;
  rate: number;
}

/** The rate offered when no run is going. */
export const DEFAULT_RATE = 100;

/** A run that is going (its requests are being sent or finishing). */
export function isRunning(r: LoadReport | null | undefined): r is LoadReport {
  return !!r && (r.state === 'setup' || r.state === 'running' || r.state === 'draining');
}

/** The form with no run going: the first of the manifest's scenarios at the default rate. */
export function defaultForm(scenarios: readonly ScenarioOutline[]): LoadForm {
  return { scenario: scenarios[0]?.name ?? '', rate: DEFAULT_RATE };
}

/**
 * The form after a new report: the running scenario and rate when the run is new to the panel
 * (`previous` is the report before, `null` when the panel has none yet) or its rate changed;
 * otherwise the form as it is, so a rate being typed is not overwritten and a finished run
 * leaves its values to start again.
 */
export function formAfterReport(form: LoadForm, previous: LoadReport | null, report: LoadReport | null): LoadForm {
  if (!isRunning(report)) return form;
  const sameRun = isRunning(previous) && previous.scenario === report.scenario;
  if (sameRun && previous.rate === report.rate) return form;
  return { scenario: report.scenario, rate: report.rate };
}
