// Deploy and undo from the service page, on every target: the Deploy dialog sends VERSION=2 to
// users, the rollout bar reaches "rollout of revision 2 complete" with every replica on revision
// 2, the history lists what changed; Undo rolls out revision 1's definition as revision 3.

import { waitFor } from './lib/procs.mjs';
import { click, openService, sel, text } from './scenarios.mjs';

const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);

/** The rollout line's state and text, and the revision of every replica row. */
async function rollout(browser, name) {
  return browser.execute((n) => {
    const line = document.querySelector(`[data-testid="rollout-line-${n}"]`);
    const revisions = [...document.querySelectorAll(`[data-testid^="replica-revision-${n}-"]`)].map((c) => c.textContent.trim());
    return { state: line?.getAttribute('data-state') ?? null, text: line?.textContent.trim() ?? null, revisions };
  }, name);
}

async function completeOn(browser, name, revision) {
  await waitFor(`${name}'s rollout of revision ${revision} to complete`, async () => {
    const r = await rollout(browser, name);
    const done = r.state === 'complete' && r.text?.includes(`on revision ${revision}`) && r.revisions.length > 0 && r.revisions.every((v) => v === String(revision));
    if (done) return true;
    throw new Error(`rollout: ${JSON.stringify(r)}`);
  }, { timeoutMs: WAIT_MS });
}

export const deployScenarios = [
  {
    name: 'deploy users version 2 from its page, see the rollout complete, then undo it',
    async run(browser) {
      await openService(browser, 'users');
      const first = Number(await text(browser, 'revision-users'));
      await click(browser, 'deploy-open-users');
      const env = await browser.$(sel('deploy-env-users'));
      await env.waitForDisplayed({ timeout: WAIT_MS });
      await env.setValue('VERSION=2');
      await click(browser, 'deploy-submit-users');
      const deployed = first + 1;
      await completeOn(browser, 'users', deployed);
      if (Number(await text(browser, 'revision-users')) !== deployed) throw new Error(`users shows revision ${await text(browser, 'revision-users')}`);
      // The history sits in a closed <details>: its text, not what is shown.
      const history = () => browser.execute(() => document.querySelector('[data-testid="history-users"]')?.textContent ?? '');
      await waitFor('the history to say what changed', async () => (await history()).includes('env VERSION: (unset) → 2'), { timeoutMs: WAIT_MS });
      await click(browser, 'undo-users');
      await completeOn(browser, 'users', deployed + 1);
      const note = await text(browser, 'deploy-note-users');
      if (!note?.includes('env VERSION: 2 → (unset)')) throw new Error(`the undo says ${JSON.stringify(note)}`);
    },
  },
];
