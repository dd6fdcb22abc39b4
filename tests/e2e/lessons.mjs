// The Lessons view, on every target, after the bundled scenarios (no load runs then): a
// lesson run step by step from the view, each check turning green and the summary saying it
// was proven; then a lesson started from the CLI shows as running in the view, and the view's
// Stop ends it (the CLI exits 130: stopped, the cluster put back).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, waitFor } from './lib/procs.mjs';
import { attrOf, click, sel } from './scenarios.mjs';

const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);
/** A whole lesson: its steps' waits and windows, plus the restore. */
const LESSON_MS = 180_000;
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
const CLI = process.env.MICRODECK_BIN ?? path.join(targetDir, 'debug', 'microdeck');

/** The outcome of every check row of a step, in order. */
async function outcomes(browser, step) {
  return browser.execute(
    (prefix) => [...document.querySelectorAll(`[data-testid^="${prefix}"]`)].map((e) => e.getAttribute('data-outcome')),
    `lesson-check-${step}-`,
  );
}

async function openLesson(browser, name) {
  await click(browser, 'nav-lessons');
  await click(browser, `open-lesson-${name}`);
  await browser.$(sel(`lesson-page-${name}`)).waitForExist({ timeout: WAIT_MS });
}

/** Clicks a start button until the page shows the lesson running: the click returns before the
 *  snapshot carrying the progress arrives, and a load run still draining from an earlier
 *  scenario refuses the start for a moment. */
async function startFromView(browser, testid) {
  await waitFor(`${testid} to start the lesson`, async () => {
    if ((await attrOf(browser, 'lesson-state', 'data-tone')) === 'progress') return true;
    const button = await browser.$(sel(testid));
    if ((await button.isExisting()) && (await button.isClickable()) && (await attrOf(browser, testid, 'data-busy')) !== 'true') await button.click();
    const error = await browser.$(sel('error-lesson'));
    throw new Error((await error.isExisting()) ? await error.getText() : 'no progress shown yet');
  }, { timeoutMs: WAIT_MS, intervalMs: 500 });
}

export const lessonScenarios = [
  {
    name: 'Lessons: run freedom-of-technology step by step; each check turns green and the summary says it was proven',
    async run(browser, out) {
      await openLesson(browser, 'freedom-of-technology');
      await startFromView(browser, 'lesson-run-steps');
      await waitFor('the lesson waiting at step 1', async () => (await attrOf(browser, 'lesson-step-0', 'data-awaiting')) === 'true', { timeoutMs: WAIT_MS });
      const before = await outcomes(browser, 0);
      if (before.length < 1 || before.some((o) => o !== 'pending')) throw new Error(`checks before the step runs: ${before}`);
      await click(browser, 'lesson-next');
      await waitFor('step 1 measured, every check green', async () => {
        const o = await outcomes(browser, 0);
        if ((await attrOf(browser, 'lesson-step-0', 'data-state')) === 'done' && o.every((x) => x === 'passed')) return true;
        throw new Error(`step 1: ${await attrOf(browser, 'lesson-step-0', 'data-state')}, checks ${o}`);
      }, { timeoutMs: LESSON_MS });
      await waitFor('the lesson waiting at step 2', async () => (await attrOf(browser, 'lesson-step-1', 'data-awaiting')) === 'true', { timeoutMs: WAIT_MS });
      await click(browser, 'lesson-rest');
      await waitFor('the summary: passed', async () => {
        const state = await attrOf(browser, 'lesson-summary', 'data-state');
        if (state === 'passed') return true;
        throw new Error(`summary ${state}; step 2 checks ${await outcomes(browser, 1)}`);
      }, { timeoutMs: LESSON_MS });
      const all = [...(await outcomes(browser, 0)), ...(await outcomes(browser, 1))];
      if (all.length < 2 || all.some((o) => o !== 'passed')) throw new Error(`checks at the end: ${all}`);
      const headline = await browser.$(`${sel('lesson-summary')} .headline`).getText();
      if (!/^Proven: all \d+ checks passed\.$/.test(headline.trim())) throw new Error(`summary headline: ${headline}`);
      await out.capture('lesson');
    },
  },
  {
    name: 'Lessons: a lesson started from the CLI shows as running in the view, and Stop there ends it',
    async run(browser, _out, session) {
      const env = { ...process.env, XDG_RUNTIME_DIR: path.join(session.root, 'runtime') };
      const cli = start('microdeck lesson run', CLI, ['lesson', 'run', 'fault-isolation'], { env });
      try {
        await click(browser, 'nav-lessons');
        await waitFor('fault-isolation running in the list', async () => {
          if (cli.exited) throw new Error(`the CLI exited ${cli.exitCode}: ${cli.output}`);
          return (await browser.$(sel('lesson-state-fault-isolation')).isExisting()) && (await browser.$(sel('lesson-state-fault-isolation')).getText()).trim() === 'running';
        }, { timeoutMs: WAIT_MS });
        await click(browser, 'open-lesson-fault-isolation');
        await waitFor('the page shows it running', async () => (await attrOf(browser, 'lesson-state', 'data-tone')) === 'progress', { timeoutMs: WAIT_MS });
        await click(browser, 'lesson-stop');
        await waitFor('the summary: stopped', async () => (await attrOf(browser, 'lesson-summary', 'data-state')) === 'stopped', { timeoutMs: LESSON_MS });
        await waitFor('the CLI to exit', () => cli.exited, { timeoutMs: WAIT_MS });
        if (cli.exitCode !== 130) throw new Error(`the CLI exited ${cli.exitCode}, not 130 (stopped): ${cli.output}`);
        if (!cli.output.includes('stopped before its end')) throw new Error(`the CLI said: ${cli.output}`);
      } finally {
        await cli.stop();
      }
    },
  },
];
