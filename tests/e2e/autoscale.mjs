// Auth's autoscaler on every target, after the lessons: switched on from the service page, it
// takes auth (scaled to 2 by hand, idle) back to its minimum, and the decision shows in the
// events, on the page and on the charts; a scale by hand then switches it off, and the page
// says so and how to switch it back on.

import { waitFor } from './lib/procs.mjs';
import { attrOf, click, eventMessages, openService, sel, text } from './scenarios.mjs';

const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);
async function overview(browser) {
  await click(browser, 'nav-overview');
  await browser.$(sel('ready-auth')).waitForExist({ timeout: WAIT_MS });
}

/** One step of the overview's − / + buttons, then waits for the row to show `n/n`. */
async function scaleStep(browser, button, n) {
  await overview(browser);
  await click(browser, button);
  await waitFor(`auth at ${n}/${n}`, async () => (await text(browser, 'ready-auth')) === `${n}/${n}`, { timeoutMs: WAIT_MS });
}

export const autoscaleScenarios = [
  {
    name: 'Autoscaling: switched on from auth\'s page it decides, and the decision shows in the events, the page and the charts; a scale by hand switches it off',
    async run(browser, out) {
      await scaleStep(browser, 'scale-up-auth', 2);
      await openService(browser, 'auth');
      if ((await attrOf(browser, 'autoscale-auth', 'data-on')) !== 'false') throw new Error('the bundled sample ships auth\'s autoscaler off');
      await click(browser, 'autoscale-switch-auth');
      await waitFor('the page to show the autoscaler on', async () => (await attrOf(browser, 'autoscale-auth', 'data-on')) === 'true', { timeoutMs: WAIT_MS });
      await waitFor('the decision on the page', async () => /→ 1/.test((await text(browser, 'autoscale-last-auth')) ?? ''), { timeoutMs: WAIT_MS });
      const target = await attrOf(browser, 'chart-auth-p95_ms', 'data-target');
      if (target !== '300') throw new Error(`the p95 chart's target line is at ${target}, not 300`);
      if (!(await browser.$(sel('chart-auth-target')).isExisting())) throw new Error('no target line in the charts\' legend');
      await out.capture('autoscale');
      await waitFor('the decision in the events', async () => {
        const said = await eventMessages(browser, 'autoscale', 'auth');
        if (said.some((m) => m.includes('auth idle (no request) under target 300 ms with 2 replicas ready → 1'))) return true;
        throw new Error(`autoscale events: ${JSON.stringify(said)}`);
      }, { timeoutMs: WAIT_MS });
      await overview(browser);
      await waitFor('auth back at 1/1', async () => (await text(browser, 'ready-auth')) === '1/1', { timeoutMs: WAIT_MS });

      // A user's scale wins: the autoscaler switches off, and the page says how to switch it on.
      await scaleStep(browser, 'scale-up-auth', 2);
      await openService(browser, 'auth');
      await waitFor('the page to show the autoscaler off', async () => (await attrOf(browser, 'autoscale-auth', 'data-on')) === 'false', { timeoutMs: WAIT_MS });
      const note = (await text(browser, 'autoscale-note-auth')) ?? '';
      if (!note.includes('switched off') || !note.includes('microdeck autoscale auth on')) throw new Error(`the note says: ${JSON.stringify(note)}`);
      await scaleStep(browser, 'scale-down-auth', 1);
    },
  },
];
