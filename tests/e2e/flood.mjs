// The log flood, run on each target with fixtures/flood.toml: a service writes as fast as it
// can for 60 s while the page is open. What a user would check: the memory of the app (the
// desktop app and its WebKit processes; the engine and Chromium for the web dashboard) stays
// within a fixed bound over its idle figure, a click on another view answers within a
// second, and the page says how many lines it skipped and where they are. Seen here over 60 s
// (release build): the desktop app +41 MB and WebKit +91 MB over idle; the web engine +34 MB
// and Chromium +157 MB. An unbounded feed grew the desktop app +480 MB and WebKit +1.9 GB in 30 s.
// E2E_FLOOD_DETAIL=1 adds each process's RSS to the samples printed.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendants, rssMb, waitFor } from './lib/procs.mjs';
import { sel } from './scenarios.mjs';

export const FLOOD_MANIFEST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'flood.toml');
const FLOOD_SECONDS = Number(process.env.E2E_FLOOD_SECONDS ?? 60);
/** Growth allowed over the idle figure, for the app's process and for the page's processes. */
export const GROWTH_MB = { app: 100, page: 300 };
const CLICK_MS = 1000;
const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);

/** Each view, and an element only it shows. */
const VIEWS = [
  ['logs', 'log-follow'],
  ['events', 'event-list'],
  ['traffic', 'traffic-view'],
  ['overview', 'ready-flood'],
];

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** RSS in MB of the app's own process and of the processes that draw its page. */
export function footprint(session) {
  if (session.name === 'desktop') {
    const app = descendants(session.driverPid).find((p) => p.comm.startsWith('microdeck-desk'));
    if (!app) throw new Error('the desktop app is not running under tauri-driver');
    const webkit = descendants(app.pid).filter((p) => p.comm.startsWith('WebKit'));
    if (webkit.length === 0) throw new Error(`no WebKit process under the app (pid ${app.pid})`);
    return { app: rssMb(app.pid), page: sum(webkit.map((p) => rssMb(p.pid))) };
  }
  const chromium = descendants(session.driverPid).filter((p) => /^chrom/.test(p.comm) && p.comm !== 'chromedriver');
  if (chromium.length === 0) throw new Error('no Chromium process under chromedriver');
  return { app: rssMb(session.enginePid), page: sum(chromium.map((p) => rssMb(p.pid))) };
}

function footprintDetail(session) {
  const root = session.name === 'desktop' ? descendants(session.driverPid).find((p) => p.comm.startsWith('microdeck-desk'))?.pid : session.driverPid;
  const kind = (pid) => {
    try {
      const m = /--type=([a-z-]+)(?:.*--utility-sub-type=([a-zA-Z.]+))?/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
      return m ? (m[2] ?? m[1]) : 'main';
    } catch {
      return '?';
    }
  };
  return descendants(root).map((p) => `${p.comm}/${kind(p.pid)}:${Math.round(rssMb(p.pid))}`).join(' ');
}

const mb = (x) => `${Math.round(x)} MB`;

/** Clicks the nav link of `view` and returns the ms until the view is on screen. */
async function timedVisit(browser, view, marker) {
  const link = await browser.$(sel(`nav-${view}`));
  await link.waitForClickable({ timeout: WAIT_MS });
  const t0 = Date.now();
  await link.click();
  await waitFor(`the ${view} view`, async () => (await browser.$(sel(marker))).isExisting(), { timeoutMs: WAIT_MS, intervalMs: 20 });
  return Date.now() - t0;
}

export const floodScenarios = [
  {
    name: `a ${FLOOD_SECONDS} s log flood: memory within idle + ${GROWTH_MB.app} MB (app) and + ${GROWTH_MB.page} MB (page), every click answers within ${CLICK_MS} ms, skipped lines shown`,
    async run(browser, out, session) {
      await waitFor('both services ready on the overview', async () => {
        const states = await browser.execute(() => [...document.querySelectorAll('.row[data-state]')].map((e) => e.dataset.state));
        return states.length === 2 && states.every((s) => s === 'ready');
      }, { timeoutMs: WAIT_MS });
      // The idle figure: the largest of three samples a second apart, before the flood starts.
      const idle = { app: 0, page: 0 };
      for (let i = 0; i < 3; i++) {
        const f = footprint(session);
        idle.app = Math.max(idle.app, f.app);
        idle.page = Math.max(idle.page, f.page);
        await new Promise((r) => setTimeout(r, 1000));
      }
      writeFileSync(path.join(session.root, 'flood-go'), '');
      const shown = await waitFor('the skipped-lines count in the status bar', async () => {
        const el = await browser.$(sel('status-skipped'));
        return (await el.isExisting()) ? (await el.getText()).trim() : null;
      }, { timeoutMs: WAIT_MS });
      const t0 = Date.now();
      const peak = { ...idle };
      const samples = [];
      const clicks = [];
      let step = 0;
      while (Date.now() - t0 < FLOOD_SECONDS * 1000) {
        const [view, marker] = VIEWS[step++ % VIEWS.length];
        clicks.push({ view, ms: await timedVisit(browser, view, marker) });
        const f = footprint(session);
        peak.app = Math.max(peak.app, f.app);
        peak.page = Math.max(peak.page, f.page);
        const heap = await browser.execute(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
        const detail = process.env.E2E_FLOOD_DETAIL ? ` [${footprintDetail(session)}]` : '';
        samples.push(`${Math.round((Date.now() - t0) / 1000)}s ${mb(f.app)}+${mb(f.page)}${heap ? ` (JS heap ${mb(heap / 1048576)})` : ''}${detail}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
      const skipped = await (await browser.$(sel('status-skipped'))).getText();
      await out.capture('flood');
      const slowest = clicks.reduce((m, c) => (c.ms > m.ms ? c : m), clicks[0]);
      console.log(`    ${session.name}: idle ${mb(idle.app)} app + ${mb(idle.page)} page; peak ${mb(peak.app)} + ${mb(peak.page)}; ${clicks.length} clicks, slowest ${slowest.view} ${slowest.ms} ms; "${skipped}"`);
      console.log(`    samples: ${samples.join(', ')}`);
      const problems = [];
      if (peak.app > idle.app + GROWTH_MB.app) problems.push(`the app grew from ${mb(idle.app)} to ${mb(peak.app)}`);
      if (peak.page > idle.page + GROWTH_MB.page) problems.push(`the page's processes grew from ${mb(idle.page)} to ${mb(peak.page)}`);
      for (const c of clicks) if (c.ms > CLICK_MS) problems.push(`a click on ${c.view} took ${c.ms} ms`);
      const m = /^([\d,]+) lines? skipped — all are in the log file$/.exec(skipped.trim());
      if (!m) problems.push(`the skipped count reads ${JSON.stringify(skipped)} (first seen: ${JSON.stringify(shown)})`);
      else if (Number(m[1].replaceAll(',', '')) === 0) problems.push('no line skipped under a flood');
      if (problems.length) throw new Error(problems.join('; '));
    },
  },
];
