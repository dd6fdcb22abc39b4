// The two targets the same scenarios run on: the desktop app under Xvfb through tauri-driver
// (+ WebKitWebDriver), and the web mode (`microdeck up`) in Debian's Chromium through
// chromedriver. Each gets its own folders (XDG dirs) and port offset, and a `teardown()`.

import { chmodSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { remote } from 'webdriverio';
import { freePort, portOpen, start, startXvfb, waitFor, which } from './procs.mjs';

/** Both shells find the bundled `services/cluster.toml` from the repository root. */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--window-size=1400,900',
];

/** Folders of one target's cluster, under one temporary root (whose path also marks its processes). */
export function isolatedEnv(target, portOffset) {
  const root = mkdtempSync(path.join(os.tmpdir(), `mdk-e2e-${target}-`));
  const dirs = {
    XDG_RUNTIME_DIR: path.join(root, 'runtime'),
    XDG_CONFIG_HOME: path.join(root, 'config'),
    XDG_STATE_HOME: path.join(root, 'state'),
    XDG_DATA_HOME: path.join(root, 'data'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  chmodSync(dirs.XDG_RUNTIME_DIR, 0o700);
  const env = { ...process.env, ...dirs, MICRODECK_PORT_OFFSET: String(portOffset), MICRODECK_E2E_ROOT: root };
  return { root, env };
}

/**
 * Arguments both shells take: the cluster shifted by `portOffset`, the local API on a free
 * port (`--web-port 0`) whatever else runs here, and a manifest if one is given.
 */
export function clusterArgs(portOffset, manifest) {
  const args = ['--port-offset', String(portOffset), '--web-port', '0'];
  if (manifest) args.push('--manifest', manifest);
  return args;
}

async function connect(port, capabilities) {
  return remote({
    hostname: '127.0.0.1',
    port,
    path: '/',
    logLevel: 'warn',
    connectionRetryTimeout: Number(process.env.E2E_SESSION_MS ?? 120_000),
    connectionRetryCount: 1,
    capabilities,
  });
}

/** The printed `http://127.0.0.1:PORT/#token=…`, or the same built from the state file. */
function dashboardUrl(up, runtimeDir) {
  const printed = /(http:\/\/(?:127\.0\.0\.1|localhost):\d+\/#token=[^\s"']+)/.exec(up.output);
  if (printed) return printed[1];
  try {
    const state = JSON.parse(readFileSync(path.join(runtimeDir, 'microdeck', 'api.json'), 'utf8'));
    if (state.url && state.token) return `${state.url.replace(/\/$/, '')}/#token=${encodeURIComponent(state.token)}`;
  } catch {
    // Not written yet.
  }
  return null;
}

/** `microdeck up` + chromedriver + a Chromium session on the printed URL. */
export async function startWeb({ bin, portOffset, manifest, outputDir }) {
  for (const program of [bin, 'chromedriver', '/usr/bin/chromium']) {
    if (!which(program)) throw new Error(`missing ${program} (make deps-system builds or installs it)`);
  }
  const { root, env } = isolatedEnv('web', portOffset);
  const handles = [];
  let browser = null;
  const teardown = async () => {
    if (browser) await browser.deleteSession().catch(() => {});
    for (const h of handles.reverse()) await h.stop();
  };
  try {
    const up = start('microdeck up', bin, ['up', ...clusterArgs(portOffset, manifest)], { env, cwd: REPO, logFile: path.join(outputDir, 'web-cluster.log') });
    handles.push(up);
    const url = await waitFor('`microdeck up` to print its URL', () => {
      if (up.exited) throw new Error(`microdeck up exited (${up.exitCode}): ${up.output.slice(-2000)}`);
      return dashboardUrl(up, env.XDG_RUNTIME_DIR);
    });
    const port = await freePort();
    const driver = start('chromedriver', 'chromedriver', [`--port=${port}`], { logFile: path.join(outputDir, 'web-chromedriver.log') });
    handles.push(driver);
    await waitFor('chromedriver to listen', () => portOpen(port), { timeoutMs: 30_000 });
    browser = await connect(port, {
      browserName: 'chrome',
      // Classic WebDriver: a BiDi session runs its mapper in a tab of the browser, which keeps
      // every network event of the page (each server-sent message) and grows without bound.
      'wdio:enforceWebDriverClassic': true,
      'goog:chromeOptions': { binary: '/usr/bin/chromium', args: CHROMIUM_ARGS },
    });
    await browser.url(url);
    return { name: 'web', browser, root, teardown, enginePid: up.pid, driverPid: driver.pid, dashboardUrl: url };
  } catch (e) {
    await teardown();
    throw e;
  }
}

/** Xvfb + tauri-driver, which starts WebKitWebDriver, which starts the desktop app. */
export async function startDesktop({ bin, portOffset, manifest, outputDir }) {
  for (const program of [bin, 'tauri-driver', 'WebKitWebDriver', 'Xvfb', 'dbus-daemon']) {
    if (!which(program)) throw new Error(`missing ${program} (make deps-system / deps-tauri-driver install it)`);
  }
  const { root, env } = isolatedEnv('desktop', portOffset);
  const handles = [];
  let browser = null;
  const teardown = async () => {
    // Deleting the session closes the app, which shuts its cluster down.
    if (browser) await browser.deleteSession().catch(() => {});
    for (const h of handles.reverse()) await h.stop();
  };
  try {
    const xvfb = await startXvfb(path.join(outputDir, 'desktop-xvfb.log'));
    handles.push(xvfb);
    // A session bus of our own: otherwise GTK autolaunches one (and the accessibility bus)
    // that daemonize out of reach and outlive the run.
    let busAddress = '';
    const bus = start('dbus-daemon', 'dbus-daemon', ['--session', '--nofork', '--print-address=1'], {
      env,
      logFile: path.join(outputDir, 'desktop-dbus.log'),
      onStdout: (t) => (busAddress += t),
    });
    handles.push(bus);
    await waitFor('a session bus', () => {
      if (bus.exited) throw new Error(`dbus-daemon exited (${bus.exitCode}): ${bus.output.slice(-1000)}`);
      return busAddress.includes('\n');
    }, { timeoutMs: 30_000 });
    const port = await freePort();
    const nativePort = await freePort();
    const driver = start('tauri-driver', 'tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
      env: { ...env, DISPLAY: xvfb.display, DBUS_SESSION_BUS_ADDRESS: busAddress.trim(), NO_AT_BRIDGE: '1' },
      cwd: REPO,
      logFile: path.join(outputDir, 'desktop-driver.log'),
    });
    handles.push(driver);
    await waitFor('tauri-driver to listen', () => {
      if (driver.exited) throw new Error(`tauri-driver exited (${driver.exitCode}): ${driver.output.slice(-2000)}`);
      return portOpen(port);
    }, { timeoutMs: 30_000 });
    browser = await connect(port, {
      'tauri:options': { application: path.resolve(bin), args: clusterArgs(portOffset, manifest) },
    });
    return { name: 'desktop', browser, root, teardown, driverPid: driver.pid };
  } catch (e) {
    await teardown();
    throw e;
  }
}
