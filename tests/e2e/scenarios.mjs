// The dashboard's scenarios, written once against the UI's data-testid hooks and run on
// every target. They run in order: later ones build on the cluster state earlier ones left.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './lib/procs.mjs';

export const SERVICES = ['gateway', 'auth', 'users', 'media', 'analytics'];
/** Generous: a first start builds nothing but still starts five processes and probes them. */
const READY_MS = Number(process.env.E2E_READY_MS ?? 90_000);
const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 60_000);

export const sel = (testid) => `[data-testid="${testid}"]`;

export async function text(browser, testid) {
  const el = await browser.$(sel(testid));
  return (await el.isExisting()) ? (await el.getText()).trim() : null;
}

async function attr(el, name) {
  const v = await el.getAttribute(name);
  return v === null ? null : String(v);
}

/** An attribute of the element with this test id; null when there is no such element. */
export async function attrOf(browser, testid, name) {
  const el = await browser.$(sel(testid));
  return (await el.isExisting()) ? attr(el, name) : null;
}

export async function click(browser, testid) {
  const el = await browser.$(sel(testid));
  await el.waitForClickable({ timeout: WAIT_MS, timeoutMsg: `${testid} never became clickable` });
  await el.click();
}

async function go(browser, view) {
  await click(browser, `nav-${view}`);
  await waitFor(`the ${view} view`, async () => {
    const hash = await browser.execute(() => location.hash);
    return view === 'overview' ? hash === '#/' : hash === `#/${view}`;
  }, { timeoutMs: WAIT_MS });
}

/** `ready/desired` of a service row, e.g. { ready: 3, desired: 3 }. */
async function readyDesired(browser, name) {
  const t = await text(browser, `ready-${name}`);
  const m = /^(\d+)\/(\d+)$/.exec(t ?? '');
  if (!m) throw new Error(`ready-${name} reads ${JSON.stringify(t)}`);
  return { ready: Number(m[1]), desired: Number(m[2]) };
}

async function notBusy(browser, testid) {
  await waitFor(`${testid} to finish`, async () => (await attr(await browser.$(sel(testid)), 'data-busy')) === 'false', { timeoutMs: WAIT_MS });
}

/** Events on the Events view, newest first, as plain objects. */
export async function events(browser) {
  return browser.execute(() =>
    [...document.querySelectorAll('[data-testid="event-item"]')].map((e) => ({
      seq: Number(e.getAttribute('data-seq')),
      kind: e.getAttribute('data-kind'),
      service: e.getAttribute('data-service'),
      replica: e.getAttribute('data-replica'),
      message: e.textContent,
    })),
  );
}

/** The messages of one kind of event about one service, on the Events view, newest first. */
export async function eventMessages(browser, kind, service) {
  await go(browser, 'events');
  return (await events(browser)).filter((e) => e.kind === kind && e.service === service).map((e) => e.message ?? '');
}

async function newestEventSeq(browser) {
  await go(browser, 'events');
  const list = await events(browser);
  return list.reduce((m, e) => Math.max(m, e.seq), 0);
}

/** Replica rows of the service detail view. */
async function replicaRows(browser, name) {
  return browser.execute((prefix) =>
    [...document.querySelectorAll(`[data-testid^="${prefix}"]`)].map((r) => ({
      testid: r.getAttribute('data-testid'),
      state: r.getAttribute('data-state'),
      pid: r.getAttribute('data-pid'),
    })),
    `replica-row-${name}-`,
  );
}

/** Scales with the overview's − / + buttons, one step at a time, until the row shows n/n. */
async function scaleTo(browser, name, n) {
  await go(browser, 'overview');
  let { desired } = await readyDesired(browser, name);
  while (desired !== n) {
    const button = desired < n ? `scale-up-${name}` : `scale-down-${name}`;
    const want = desired < n ? desired + 1 : desired - 1;
    await click(browser, button);
    await notBusy(browser, button);
    await waitFor(`${name} to want ${want} replicas`, async () => (await readyDesired(browser, name)).desired === want, { timeoutMs: WAIT_MS });
    desired = want;
  }
  await waitFor(`${name} to show ${n}/${n}`, async () => (await text(browser, `ready-${name}`)) === `${n}/${n}`, { timeoutMs: WAIT_MS });
}

export async function openService(browser, name) {
  await go(browser, 'overview');
  await click(browser, `open-${name}`);
  await browser.$(sel(`detail-view-${name}`)).waitForExist({ timeout: WAIT_MS });
}

export const scenarios = [
  {
    name: 'the five sample services show ready',
    async run(browser) {
      await go(browser, 'overview');
      await waitFor('every sample service to be ready', async () => {
        const states = {};
        for (const name of SERVICES) states[name] = await text(browser, `state-${name}`);
        if (SERVICES.every((n) => states[n] === 'ready')) return true;
        throw new Error(`states: ${JSON.stringify(states)}`);
      }, { timeoutMs: READY_MS });
      for (const name of SERVICES) {
        const { ready, desired } = await readyDesired(browser, name);
        if (ready !== desired || desired < 1) throw new Error(`${name} is ready with ${ready}/${desired}`);
      }
    },
  },
  {
    name: 'web: no cookie and no token in the address; the live feed shows a restart made elsewhere; a tab without the right token says how to open the dashboard',
    targets: ['web'],
    async run(browser, _out, session) {
      const page = await browser.execute(() => ({ cookie: document.cookie, href: location.href, kept: sessionStorage.getItem('microdeck.token') !== null }));
      if (page.cookie !== '') throw new Error(`document.cookie is ${JSON.stringify(page.cookie)}`);
      // WebDriver sees HttpOnly cookies too, which document.cookie hides.
      const cookies = await browser.getCookies();
      if (cookies.length) throw new Error(`the browser holds cookies for the page: ${cookies.map((c) => c.name).join(', ')}`);
      if (page.href.includes('token')) throw new Error(`the address still holds the token: ${page.href}`);
      if (!page.kept) throw new Error('the tab did not keep the token');
      await waitFor('the feed to be live', async () => (await text(browser, 'connection')) === 'live', { timeoutMs: WAIT_MS });
      const before = await newestEventSeq(browser);
      const state = JSON.parse(readFileSync(path.join(session.root, 'runtime', 'microdeck', 'api.json'), 'utf8'));
      const r = await fetch(`${state.url}/api/services/analytics/restart`, { method: 'POST', headers: { authorization: `Bearer ${state.token}` } });
      if (!r.ok) throw new Error(`restart from outside the page: ${r.status} ${await r.text()}`);
      await waitFor('the restart of analytics on the Events view', async () => {
        const list = await events(browser);
        return list.some((e) => e.seq > before && e.service === 'analytics' && e.kind === 'restarted');
      }, { timeoutMs: WAIT_MS });
      const origin = new URL(session.dashboardUrl).origin;
      // A load of the page (not a move within it), so it reads its address again.
      const open = async (url) => {
        await browser.url(url);
        await browser.refresh();
      };
      await browser.execute(() => sessionStorage.clear());
      for (const url of [`${origin}/`, `${origin}/#token=wrong`]) {
        await open(url);
        await browser.$(sel('needs-token')).waitForExist({ timeout: WAIT_MS, timeoutMsg: `${url}: no message about the token` });
        const said = await browser.$(sel('waiting')).getText();
        if (!said.includes('microdeck up') || !said.includes('#token=')) throw new Error(`${url} says: ${said}`);
      }
      await open(session.dashboardUrl);
      await go(browser, 'overview');
      await waitFor('analytics ready again, through the page opened anew', async () => (await text(browser, 'state-analytics')) === 'ready', { timeoutMs: WAIT_MS });
    },
  },
  {
    name: 'scale media to 3: its row shows 3/3 and three replica rows',
    async run(browser) {
      await scaleTo(browser, 'media', 3);
      const chips = await browser.$$('[data-testid^="replica-media-"]');
      if (chips.length !== 3) throw new Error(`the media row shows ${chips.length} replicas, not 3`);
      await openService(browser, 'media');
      await waitFor('three ready replica rows', async () => {
        const rows = await replicaRows(browser, 'media');
        if (rows.length === 3 && rows.every((r) => r.state === 'ready' && r.pid)) return true;
        throw new Error(`rows: ${JSON.stringify(rows)}`);
      }, { timeoutMs: WAIT_MS });
    },
  },
  {
    name: 'kill a media replica: the event appears and it is ready again with a new pid',
    async run(browser) {
      const before = await newestEventSeq(browser);
      await openService(browser, 'media');
      const rows = await replicaRows(browser, 'media');
      const victim = rows.find((r) => r.state === 'ready' && r.pid);
      if (!victim) throw new Error(`no ready media replica to kill: ${JSON.stringify(rows)}`);
      const index = victim.testid.slice('replica-row-media-'.length);
      await click(browser, `kill-media-${index}`);
      await notBusy(browser, `kill-media-${index}`);
      await go(browser, 'events');
      await waitFor(`an event for media replica ${index}`, async () => {
        const list = await events(browser);
        return list.some((e) => e.seq > before && e.service === 'media' && e.replica === index && (e.kind === 'killed' || e.kind === 'exited'));
      }, { timeoutMs: WAIT_MS });
      await openService(browser, 'media');
      await waitFor(`media replica ${index} ready with a new pid`, async () => {
        const row = (await replicaRows(browser, 'media')).find((r) => r.testid === victim.testid);
        if (row && row.state === 'ready' && row.pid && row.pid !== victim.pid) return true;
        throw new Error(`replica ${index} was pid ${victim.pid}, now ${JSON.stringify(row)}`);
      }, { timeoutMs: WAIT_MS });
    },
  },
  {
    name: 'restart auth: the events show it',
    async run(browser) {
      const before = await newestEventSeq(browser);
      await go(browser, 'overview');
      await click(browser, 'restart-auth');
      await notBusy(browser, 'restart-auth');
      await go(browser, 'events');
      await waitFor('a restart event for auth', async () => {
        const list = await events(browser);
        return list.some((e) => e.seq > before && e.service === 'auth' && e.kind === 'restarted');
      }, { timeoutMs: WAIT_MS });
      await go(browser, 'overview');
      await waitFor('auth ready after its restart', async () => (await text(browser, 'state-auth')) === 'ready', { timeoutMs: WAIT_MS });
    },
  },
  {
    name: 'the log view shows lines from every service and the text filter narrows them',
    async run(browser) {
      await go(browser, 'logs');
      await waitFor('log lines from every service', async () => {
        const counts = {};
        for (const name of SERVICES) counts[name] = Number(await text(browser, `log-count-${name}`));
        if (SERVICES.every((n) => counts[n] > 0)) return true;
        throw new Error(`lines per service: ${JSON.stringify(counts)}`);
      }, { timeoutMs: WAIT_MS });
      const total = Number(await text(browser, 'log-total'));
      // A word from the lines on screen that not every line holds.
      const shown = await browser.execute(() => [...document.querySelectorAll('[data-testid="log-line"]')].map((l) => l.getAttribute('data-text') ?? ''));
      const words = new Map();
      for (const line of shown) for (const w of new Set(line.toLowerCase().match(/[a-z][a-z0-9_-]{3,}/g) ?? [])) words.set(w, (words.get(w) ?? 0) + 1);
      const candidates = [...words.entries()].filter(([, n]) => n < shown.length).sort((a, b) => a[1] - b[1]);
      if (candidates.length === 0) throw new Error(`no word to filter by in ${shown.length} rendered lines`);
      const input = await browser.$(sel('log-filter'));
      for (const [word] of candidates.slice(0, 5)) {
        await input.setValue(word);
        const narrowed = await waitFor(`the filter "${word}" to apply`, async () => {
          const n = Number(await text(browser, 'log-shown'));
          const all = Number(await text(browser, 'log-total'));
          return n > 0 && n < all ? { n, all } : null;
        }, { timeoutMs: 10_000 }).catch(() => null);
        if (!narrowed) continue;
        const rendered = await browser.execute(() => [...document.querySelectorAll('[data-testid="log-line"]')].map((l) => l.getAttribute('data-text') ?? ''));
        const stray = rendered.filter((t) => !t.toLowerCase().includes(word));
        if (rendered.length === 0 || stray.length > 0) throw new Error(`filter "${word}" shows ${rendered.length} lines, ${stray.length} without it: ${JSON.stringify(stray.slice(0, 3))}`);
        // Escape clears the filter (WebDriver's own clear sends no input event).
        await input.click();
        await browser.keys('Escape');
        await waitFor('the filter to clear', async () => Number(await text(browser, 'log-shown')) === Number(await text(browser, 'log-total')), { timeoutMs: WAIT_MS });
        return;
      }
      throw new Error(`no word narrowed the ${total} lines: tried ${candidates.slice(0, 5).map(([w]) => w).join(', ')}`);
    },
  },
  {
    name: '"/" focuses the log filter',
    async run(browser) {
      await go(browser, 'logs');
      await browser.$('body').click();
      await browser.keys('/');
      await waitFor('the filter to have focus', () => browser.execute(() => document.activeElement?.getAttribute('data-testid') === 'log-filter'), { timeoutMs: 10_000 });
    },
  },
  {
    name: 'Traffic: start the browse load; the achieved rate, the gateway chart and the topology edges appear',
    async run(browser, out) {
      await go(browser, 'traffic');
      const picker = await browser.$(sel('load-scenario'));
      // The picker lists the manifest's scenarios (GET /api/load/scenarios).
      await waitFor('the manifest scenarios in the picker', async () => {
        const names = await browser.execute(() => [...document.querySelectorAll('[data-testid="load-scenario"] option')].map((o) => o.value));
        if (['browse', 'login-storm', 'media', 'mixed'].every((n) => names.includes(n))) return true;
        throw new Error(`options: ${JSON.stringify(names)}`);
      }, { timeoutMs: WAIT_MS });
      await picker.selectByAttribute('value', 'browse');
      await (await browser.$(sel('load-rate'))).setValue(String(LOAD_RATE));
      await waitFor(`the rate field to read ${LOAD_RATE}`, async () => (await (await browser.$(sel('load-rate'))).getValue()) === String(LOAD_RATE), { timeoutMs: WAIT_MS });
      await click(browser, 'load-start');
      await waitFor('the load to run with a non-zero achieved rate', async () => {
        const state = await attr(await browser.$(sel('load-report')), 'data-state');
        const achieved = Number(await text(browser, 'load-achieved'));
        if (state === 'running' && achieved > 0) return true;
        throw new Error(`report: ${await text(browser, 'load-report')}`);
      }, { timeoutMs: WAIT_MS });
      const asked = await text(browser, 'load-report');
      if (!/^browse · running · asked 50\/s/.test(asked ?? '')) throw new Error(`the report reads ${JSON.stringify(asked)}`);
      await waitFor("the gateway's req/s chart to move", async () => {
        const points = Number(await attr(await browser.$(sel('chart-gateway-rps')), 'data-points'));
        const latest = Number(await text(browser, 'chart-gateway-rps-latest'));
        if (points > 0 && latest > 0) return true;
        throw new Error(`${points} non-zero points, caption ${latest}`);
      }, { timeoutMs: WAIT_MS });
      await waitFor('the topology edges of browse, each with a rate', async () => {
        const edges = await browser.execute(() =>
          Object.fromEntries([...document.querySelectorAll('[data-testid^="topology-edge-"]')].map((e) => [e.getAttribute('data-testid').slice('topology-edge-'.length), Number(e.getAttribute('data-rps'))])),
        );
        if (BROWSE_EDGES.every((e) => edges[e] > 0)) return true;
        throw new Error(`edges: ${JSON.stringify(edges)}`);
      }, { timeoutMs: WAIT_MS });
      // Drawn as the flow of a request: each caller in a layer left of its callees.
      const layers = await topologyLayers(browser);
      const [gateway, analytics] = [layers.gateway, layers.analytics];
      const middle = ['auth', 'users', 'media'].map((n) => layers[n]);
      if (!(middle.every((l) => Number.isInteger(l) && gateway < l && l < analytics) && Number.isInteger(gateway))) {
        throw new Error(`topology layers: ${JSON.stringify(layers)}`);
      }
      await out.capture('traffic');
    },
  },
  {
    name: 'Traffic: the Load panel opened again during the run shows the running scenario and rate',
    async run(browser) {
      // Away and back (the panel is made anew), then a reload of the page: not the defaults (100/s).
      await go(browser, 'overview');
      await go(browser, 'traffic');
      await waitFor('the panel to show browse at 50/s', () => loadForm(browser, 'browse', LOAD_RATE), { timeoutMs: WAIT_MS });
      await browser.refresh();
      await browser.$(sel('nav-traffic')).waitForExist({ timeout: WAIT_MS });
      await go(browser, 'traffic');
      await waitFor('the reloaded panel to show browse at 50/s', () => loadForm(browser, 'browse', LOAD_RATE), { timeoutMs: WAIT_MS });
    },
  },
  {
    name: 'desktop: Ctrl + / Ctrl − / Ctrl 0 zoom the page in steps, kept for the next start',
    targets: ['desktop'],
    async run(browser, out) {
      await go(browser, 'traffic');
      const page = () => browser.execute(() => ({ zoom: document.documentElement.dataset.zoom, kept: localStorage.getItem('microdeck.zoom'), width: innerWidth }));
      const start = await page();
      if (start.zoom !== '1') throw new Error(`the page starts at zoom ${JSON.stringify(start)}`);
      // The page zoom shows as a narrower viewport in CSS pixels: width ÷ zoom.
      const zoomTo = async (keys, want) => {
        await browser.keys(keys);
        return waitFor(`zoom ${want}`, async () => {
          const now = await page();
          if (now.zoom === String(want) && now.kept === String(want) && Math.abs(now.width - start.width / want) <= 2) return now;
          throw new Error(`after ${keys.join('+')}: ${JSON.stringify(now)}, from ${JSON.stringify(start)}`);
        }, { timeoutMs: 10_000 });
      };
      try {
        await browser.$('body').click();
        await zoomTo(['Control', '+'], 1.1);
        await zoomTo(['Control', '='], 1.25);
        await zoomTo(['Control', '+'], 1.5);
        await out.capture('traffic-zoomed');
        await zoomTo(['Control', '-'], 1.25);
        // A new start of the page reads the kept zoom and applies it.
        await browser.refresh();
        await waitFor('the reloaded page at zoom 1.25', async () => (await page()).zoom === '1.25', { timeoutMs: WAIT_MS });
        await browser.$('body').click();
        await zoomTo(['Control', '0'], 1);
        await zoomTo(['Control', '-'], 0.9);
      } finally {
        await browser.$('body').click().catch(() => {});
        await browser.keys(['Control', '0']);
        await waitFor('zoom back at 100 %', async () => (await page()).zoom === '1', { timeoutMs: 10_000 });
      }
    },
  },
  {
    name: 'desktop: the window may call its own commands, and no core command it does not use',
    targets: ['desktop'],
    async run(browser) {
      const tries = await browser.executeAsync((done) => {
        const ipc = window.__TAURI_INTERNALS__;
        const attempt = (cmd, args) => ipc.invoke(cmd, args).then(() => 'allowed', (e) => `refused: ${e}`);
        const calls = [
          ['snapshot', {}],
          ['plugin:event|listen', { event: 'quitting', target: { kind: 'Any' }, handler: ipc.transformCallback(() => {}) }],
          ['plugin:window|title', { label: 'main' }],
          ['plugin:app|version', {}],
          ['plugin:path|resolve_directory', { directory: 11 }],
        ];
        Promise.all(calls.map(([cmd, args]) => attempt(cmd, args).then((got) => [cmd, got]))).then(done);
      });
      const got = Object.fromEntries(tries);
      for (const cmd of ['snapshot', 'plugin:event|listen']) {
        if (got[cmd] !== 'allowed') throw new Error(`${cmd}, which the page uses: ${got[cmd]}`);
      }
      for (const cmd of ['plugin:window|title', 'plugin:app|version', 'plugin:path|resolve_directory']) {
        if (!/not allowed/.test(got[cmd])) throw new Error(`${cmd} should be refused by the capability: ${got[cmd]}`);
      }
    },
  },
  {
    name: "under load, the overview shows the gateway's traffic: its sparkline moves on with non-zero req/s",
    async run(browser, out) {
      await go(browser, 'overview');
      const first = await waitFor("the gateway's sparkline to show its load", async () => {
        const s = await sparkline(browser, 'gateway');
        if (s && s.points > 0 && s.last > 0 && s.newest > 0) return s;
        throw new Error(`sparkline: ${JSON.stringify(s)}`);
      }, { timeoutMs: WAIT_MS });
      // A minute is 60 points: past it the count stays and the newest second moves on instead.
      await waitFor("the gateway's sparkline to take a newer second", async () => {
        const s = await sparkline(browser, 'gateway');
        if (s && s.newest > first.newest && s.points >= Math.min(first.points + 1, 60) && s.last > 0) return true;
        throw new Error(`first ${JSON.stringify(first)}, now ${JSON.stringify(s)}`);
      }, { timeoutMs: WAIT_MS });
      const rps = Number(await text(browser, 'rps-gateway'));
      const p95 = await text(browser, 'p95-gateway');
      const errors = await text(browser, 'errors-gateway');
      if (!(rps > 0) || !/ (ms|s)$/.test(p95 ?? '') || !/%$/.test(errors ?? '')) throw new Error(`the gateway row reads ${rps} req/s, p95 ${JSON.stringify(p95)}, errors ${JSON.stringify(errors)}`);
      await out.capture('overview-load');
    },
  },
  {
    name: "under load, the gateway's charts open on the last minute, filled; 5 minutes follows the range rule",
    async run(browser, out) {
      await openService(browser, 'gateway');
      if ((await attr(await browser.$(sel('window-60')), 'aria-pressed')) !== 'true') throw new Error('the charts do not open on 1 minute');
      await waitFor('a filled one-minute chart with non-zero req/s', async () => {
        const c = await chartRange(browser, 'gateway');
        if (c.window === 60 && c.xMax - c.xMin <= 61 && fillsWindow(c) && c.points > 0) return c;
        throw new Error(`chart: ${JSON.stringify(c)}`);
      }, { timeoutMs: WAIT_MS });
      await out.capture('gateway');
      await click(browser, 'window-300');
      await waitFor('the 5-minute window chosen', async () => (await attr(await browser.$(sel('window-300')), 'aria-pressed')) === 'true' && (await attr(await browser.$(sel('window-60')), 'aria-pressed')) === 'false', { timeoutMs: WAIT_MS });
      await waitFor('the x range to follow the rule for 5 minutes', async () => {
        const c = await chartRange(browser, 'gateway');
        if (c.window === 300 && fillsWindow(c) && c.points > 0) return true;
        throw new Error(`chart: ${JSON.stringify(c)}`);
      }, { timeoutMs: WAIT_MS });
      await out.capture('gateway-5min');
    },
  },
  {
    name: 'under load, scale media from 1 to 3: its spread reaches the new replica 2',
    async run(browser, out) {
      try {
        await scaleTo(browser, 'media', 1);
        await openService(browser, 'media');
        // The spread covers the last 10 s: wait until replica 2's earlier share has left it.
        await waitFor('media traffic on replica 0 only', async () => {
          const bars = await spread(browser, 'media');
          if (bars['0'] > 0 && !(bars['2'] > 0)) return true;
          throw new Error(`spread: ${JSON.stringify(bars)}`);
        }, { timeoutMs: WAIT_MS });
        await scaleTo(browser, 'media', 3);
        await openService(browser, 'media');
        await waitFor('a share of media traffic on the new replica 2', async () => {
          const bars = await spread(browser, 'media');
          if (bars['2'] > 0) return true;
          throw new Error(`spread: ${JSON.stringify(bars)}`);
        }, { timeoutMs: WAIT_MS });
        await waitFor("media's req/s chart to move", async () => Number(await attr(await browser.$(sel('chart-media-rps')), 'data-points')) > 0, { timeoutMs: WAIT_MS });
        await out.capture('media');
      } finally {
        await go(browser, 'traffic');
        await click(browser, 'load-stop');
        await waitFor('the load to stop', async () => (await attr(await browser.$(sel('load-report')), 'data-state')) === 'stopped', { timeoutMs: WAIT_MS });
      }
    },
  },
];

/** The rate the Traffic scenarios ask for: enough to see, modest for a 2-core machine. */
const LOAD_RATE = 50;
/** caller-callee pairs the browse scenario must show. */
const BROWSE_EDGES = ['gateway-auth', 'gateway-users', 'gateway-media', 'users-analytics'];

/** An overview sparkline's figures, `null` before it is drawn. */
async function sparkline(browser, name) {
  return browser.execute((testid) => {
    const svg = document.querySelector(`[data-testid="${testid}"]`);
    if (!svg) return null;
    const n = (a) => (svg.getAttribute(a) === null ? null : Number(svg.getAttribute(a)));
    return { points: n('data-points'), last: n('data-last'), newest: n('data-newest') };
  }, `spark-${name}`);
}

/** A service's req/s chart: its x range, the window of the series shown, its first and newest point (unix seconds), its non-zero points. */
async function chartRange(browser, name) {
  return browser.execute((n) => {
    const box = document.querySelector(`[data-testid="chart-${n}"]`);
    const rps = document.querySelector(`[data-testid="chart-${n}-rps"]`);
    const num = (el, a) => Number(el?.getAttribute(a) ?? NaN);
    return {
      window: num(box, 'data-window'),
      first: num(box, 'data-first'),
      newest: num(box, 'data-newest'),
      xMin: num(rps, 'data-x-min'),
      xMax: num(rps, 'data-x-max'),
      points: num(rps, 'data-points'),
    };
  }, name);
}

/** The `data-layer` of each topology node (a number, or null for a node no call reached). */
async function topologyLayers(browser) {
  return browser.execute(() =>
    Object.fromEntries(
      [...document.querySelectorAll('[data-testid^="topology-node-"]')].map((n) => {
        const layer = n.getAttribute('data-layer');
        return [n.getAttribute('data-testid').slice('topology-node-'.length), layer === null || layer === 'none' ? null : Number(layer)];
      }),
    ),
  );
}

/** Whether the Load panel's picker and rate show `scenario` at `rate` (throws with what they show). */
async function loadForm(browser, scenario, rate) {
  const shown = await browser.execute(() => ({
    scenario: document.querySelector('[data-testid="load-scenario"]')?.value,
    rate: document.querySelector('[data-testid="load-rate"]')?.value,
    state: document.querySelector('[data-testid="load-report"]')?.getAttribute('data-state'),
  }));
  if (shown.scenario === scenario && Number(shown.rate) === rate && shown.state === 'running') return true;
  throw new Error(`the panel shows ${JSON.stringify(shown)}`);
}

/**
 * The charts' range rule: the newest point within a few seconds of the right edge, and the
 * range either the whole window or, for a series younger than it, from its first point.
 */
function fillsWindow(c) {
  const younger = c.first > c.xMax - c.window;
  const follows = younger ? Math.abs(c.xMin - c.first) < 0.01 : Math.abs(c.xMax - c.xMin - c.window) < 0.01;
  return follows && c.newest >= c.xMax - 3;
}

/** A service's spread bars: replica index → percent. */
async function spread(browser, name) {
  return browser.execute((prefix) =>
    Object.fromEntries([...document.querySelectorAll(`[data-testid^="${prefix}"]`)].map((r) => [r.getAttribute('data-testid').slice(prefix.length), Number(r.getAttribute('data-pct'))])),
    `spread-${name}-`,
  );
}

/** Saves what is on screen once the engine painted it (WebKit's screenshot is the last painted frame). */
export async function capture(browser, file) {
  await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
  await browser.saveScreenshot(file);
}

/** The picture saved with the output: the overview with every service. */
export async function screenshot(browser, file) {
  await go(browser, 'overview');
  await browser.$(sel('service-gateway')).waitForExist({ timeout: WAIT_MS });
  await capture(browser, file);
}
