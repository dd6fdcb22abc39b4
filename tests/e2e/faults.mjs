// A fault injected and cleared from users' Faults panel, on every target: the panel shows the
// fault set, users' charts shade its time as a band, the events say it was set and cleared, and
// once cleared the panel shows none while the band stays on the charts for the time it lasted.

import { waitFor } from './lib/procs.mjs';
import { attrOf, click, eventMessages, openService, sel, text } from './scenarios.mjs';

const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);
async function type(browser, testid, value) {
  const el = await browser.$(sel(testid));
  await el.waitForDisplayed({ timeout: WAIT_MS, timeoutMsg: `${testid} never showed` });
  await el.clearValue();
  await el.setValue(value);
}

const bands = async (browser) => Number((await attrOf(browser, 'chart-users', 'data-fault-bands')) ?? 0);

export const faultScenarios = [
  {
    name: 'Faults: a delay injected into users from its Faults panel shows in the panel, as a band on its charts and in the events, and is cleared from the panel',
    async run(browser, out) {
      await openService(browser, 'users');
      const active = () => attrOf(browser, 'fault-users', 'data-active');
      await waitFor("users' Faults panel", async () => (await active()) !== null, { timeoutMs: WAIT_MS });
      if ((await active()) !== 'no') throw new Error('users has a fault before the test set one');
      await click(browser, 'fault-toggle-users');
      // A mistake is named before anything is sent.
      await type(browser, 'fault-delay-users', '10');
      await type(browser, 'fault-jitter-users', '20');
      await click(browser, 'fault-set-users');
      await waitFor('the panel to name the mistake', async () => /at most the delay/.test((await text(browser, 'fault-problem-users')) ?? ''), { timeoutMs: WAIT_MS });

      await type(browser, 'fault-delay-users', '300');
      await type(browser, 'fault-jitter-users', '50');
      await click(browser, 'fault-set-users');
      await waitFor('the fault in the panel', async () => {
        const said = (await text(browser, 'fault-active-users')) ?? '';
        if (said.includes('delay 300ms ±50ms on 100% of requests') && said.includes('until cleared')) return true;
        throw new Error(`the panel says ${JSON.stringify(said)}`);
      }, { timeoutMs: WAIT_MS });
      await waitFor('a fault band on users\' charts', async () => (await bands(browser)) >= 1, { timeoutMs: WAIT_MS });
      if (!(await browser.$(sel('chart-users-fault-band')).isExisting())) throw new Error('no fault band in the charts\' legend');
      await out.capture('fault-set');

      await click(browser, 'fault-clear-users');
      await waitFor('no fault in the panel', async () => (await attrOf(browser, 'fault-users', 'data-active')) === 'no', { timeoutMs: WAIT_MS });
      // The band stays for the time the fault lasted.
      if ((await bands(browser)) < 1) throw new Error('the band went with the fault');
      await out.capture('fault-cleared');
      await waitFor('the fault set and cleared in the events', async () => {
        const said = await eventMessages(browser, 'fault', 'users');
        const set = said.some((m) => m.includes('fault on users: delay 300ms ±50ms on 100% of requests until cleared'));
        const cleared = said.some((m) => m.includes('fault on users cleared'));
        if (set && cleared) return true;
        throw new Error(`fault events: ${JSON.stringify(said)}`);
      }, { timeoutMs: WAIT_MS });
    },
  },
];
