#!/usr/bin/env node
// The e2e runner: for each target (desktop, web) and each suite (the bundled cluster's
// scenarios, then the log flood of flood.mjs) it starts what the target needs, runs every
// scenario with one WebDriver client (a scenario may save output/<target>-<label>.png), saves
// output/<target>.png (reported, not counted as a test), and always cleans up — then checks
// that no process of that target's cluster is left. Ends with "N passed, N failed".
//
//   node run.mjs [--target desktop|web]... [--suite bundled|flood|faults]...   (default: bundled and flood)
// Environment: CARGO_TARGET_DIR (where the binaries are), MICRODECK_BIN, MICRODECK_DESKTOP_BIN,
// E2E_MANIFEST (a manifest instead of the bundled one), E2E_PORT_OFFSET (default 1100).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllNow, processesMentioning, stopAll, waitFor } from './lib/procs.mjs';
import { startDesktop, startWeb } from './lib/targets.mjs';
import { deployScenarios } from './deploy.mjs';
import { FLOOD_MANIFEST, floodScenarios } from './flood.mjs';
import { autoscaleScenarios } from './autoscale.mjs';
import { faultScenarios } from './faults.mjs';
import { lessonScenarios } from './lessons.mjs';
import { capture, scenarios, screenshot } from './scenarios.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const outputDir = path.join(here, 'output');
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
const baseOffset = Number(process.env.E2E_PORT_OFFSET ?? 1100);

const TARGETS = {
  desktop: { start: startDesktop, bin: process.env.MICRODECK_DESKTOP_BIN ?? path.join(targetDir, 'debug', 'microdeck-desktop'), portOffset: baseOffset + 100 },
  web: { start: startWeb, bin: process.env.MICRODECK_BIN ?? path.join(targetDir, 'debug', 'microdeck'), portOffset: baseOffset },
};

/** The bundled cluster (or E2E_MANIFEST) with the scenarios, then the flood on its own cluster. */
const SUITES = {
  bundled: { manifest: process.env.E2E_MANIFEST ? path.resolve(process.env.E2E_MANIFEST) : undefined, scenarios: process.env.E2E_MANIFEST ? scenarios : [...scenarios, ...deployScenarios, ...faultScenarios, ...lessonScenarios, ...autoscaleScenarios], portShift: 0, screenshot: true },
  flood: { manifest: FLOOD_MANIFEST, scenarios: floodScenarios, portShift: 50, screenshot: false },
  // The faults scenario alone (it is in `bundled` too), on the bundled cluster once it is ready.
  faults: { manifest: undefined, scenarios: [scenarios[0], ...faultScenarios], portShift: 0, screenshot: false },
};

function parseArgs(argv) {
  const chosen = { target: [], suite: [] };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(target|suite)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unknown argument ${argv[i]} (use --target desktop|web, --suite bundled|flood|faults)`);
    const value = m[2] ?? argv[++i];
    if (!value) throw new Error(`--${m[1]} needs a value`);
    chosen[m[1]].push(value);
  }
  for (const t of chosen.target) if (!TARGETS[t]) throw new Error(`unknown target ${t} (desktop or web)`);
  for (const t of chosen.suite) if (!SUITES[t]) throw new Error(`unknown suite ${t} (bundled, flood or faults)`);
  return { targets: chosen.target.length ? chosen.target : ['desktop', 'web'], suites: chosen.suite.length ? chosen.suite : ['bundled', 'flood'] };
}

const results = [];
function record(target, name, error, ms) {
  results.push({ target, name, ok: !error });
  const took = `${(ms / 1000).toFixed(1)}s`;
  if (error) console.log(`not ok - ${target} › ${name} (${took})\n    ${String(error.stack ?? error).split('\n').slice(0, 6).join('\n    ')}`);
  else console.log(`ok - ${target} › ${name} (${took})`);
}

async function timed(fn) {
  const t0 = Date.now();
  try {
    await fn();
    return { error: null, ms: Date.now() - t0 };
  } catch (error) {
    return { error, ms: Date.now() - t0 };
  }
}

async function runTarget(name, suite) {
  const spec = TARGETS[name];
  let session = null;
  const setup = await timed(async () => {
    session = await spec.start({ bin: spec.bin, portOffset: spec.portOffset + suite.portShift, manifest: suite.manifest, outputDir });
  });
  if (setup.error) {
    record(name, 'start the target', setup.error, setup.ms);
    return;
  }
  try {
    for (const scenario of suite.scenarios) {
      // A scenario about one shell only (e.g. the desktop app's zoom keys).
      if (scenario.targets && !scenario.targets.includes(name)) continue;
      const out = { capture: (label) => capture(session.browser, path.join(outputDir, `${name}-${label}.png`)) };
      const r = await timed(() => scenario.run(session.browser, out, session));
      record(name, scenario.name, r.error, r.ms);
      if (r.error) {
        const slug = scenario.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 40);
        await session.browser.saveScreenshot(path.join(outputDir, `${name}-failed-${slug}.png`)).catch(() => {});
      }
    }
    // The screenshot is output, not a check: reported either way, counted neither way.
    if (suite.screenshot) {
      const shot = await timed(() => screenshot(session.browser, path.join(outputDir, `${name}.png`)));
      if (shot.error) console.log(`# ${name}: screenshot NOT saved to tests/e2e/output/${name}.png: ${shot.error.message ?? shot.error}`);
      else console.log(`# ${name}: screenshot saved to tests/e2e/output/${name}.png`);
    }
  } finally {
    const down = await timed(async () => {
      await session.teardown();
      // The cluster's services carry the target's folders in their environment.
      const left = await waitFor('the cluster to leave no process', () => processesMentioning(session.root).length === 0, { timeoutMs: 30_000 }).catch(() => null);
      if (!left) {
        const stray = processesMentioning(session.root);
        for (const p of stray) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // Gone meanwhile.
          }
        }
        throw new Error(`left running after teardown: ${stray.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
      }
    });
    record(name, 'teardown leaves no process behind', down.error, down.ms);
  }
}

async function main() {
  const { targets, suites } = parseArgs(process.argv.slice(2));
  mkdirSync(outputDir, { recursive: true });
  for (const suite of suites) {
    for (const t of targets) {
      console.log(`# target ${t}, suite ${suite}: ${TARGETS[t].bin}`);
      await runTarget(t, SUITES[suite]);
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAllNow();
    process.exit(130);
  });
}
process.on('exit', killAllNow);

let fatal = null;
try {
  await main();
} catch (e) {
  fatal = e;
  console.log(`not ok - runner: ${e.stack ?? e}`);
} finally {
  await stopAll();
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + (fatal ? 1 : 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
