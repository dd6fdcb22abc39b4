// Entry point: picks the transport (Tauri IPC or HTTP), starts the live store, mounts the app.
// The app's modules load inside the try: a library that throws while it loads, or a failed
// start, says why in the page instead of leaving a blank window.

import './lib/locale';
import { mount } from 'svelte';
import './app.css';
import type { Transport } from './lib/transport';
import { takePageToken } from './lib/pagetoken';

// Taken at once, before any module loads: the page may be sent to another route (`#/logs`)
// as soon as it has loaded, and the token in the address would be gone by then.
const pageToken = takePageToken();

async function pickTransport(): Promise<Transport> {
  // `?demo` is a development aid only: Vite removes this branch from builds.
  if (import.meta.env.DEV && new URLSearchParams(location.search).has('demo')) {
    const { demoTransport } = await import('./lib/demo');
    return demoTransport();
  }
  const { detectTransport } = await import('./lib/transport');
  return detectTransport(pageToken);
}

/** Plain DOM (no Svelte): whatever broke the app may be in Svelte's path. */
function showStartFailure(target: HTMLElement, error: unknown) {
  const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
  const box = document.createElement('div');
  box.className = 'start-failure';
  box.setAttribute('role', 'alert');
  box.dataset.testid = 'start-failure';
  const title = document.createElement('h2');
  title.textContent = 'The dashboard could not start';
  const text = document.createElement('pre');
  text.textContent = detail;
  box.append(title, text);
  target.replaceChildren(box);
}

async function start() {
  const target = document.getElementById('app');
  if (!target) throw new Error('no #app element in the page');
  // An error after mount (a first effect) that left the page empty explains itself too.
  const ifBlank = (error: unknown) => {
    if (!target.querySelector('.frame, .start-failure')) showStartFailure(target, error);
  };
  addEventListener('error', (e) => ifBlank(e.error ?? e.message));
  addEventListener('unhandledrejection', (e) => ifBlank(e.reason));
  try {
    const [{ default: App }, { cluster }, { installZoom }, transport] = await Promise.all([
      import('./App.svelte'),
      import('./lib/store.svelte'),
      import('./lib/pagezoom'),
      pickTransport(),
    ]);
    installZoom();
    cluster.start(transport);
    mount(App, { target });
  } catch (e) {
    console.error('the dashboard could not start', e);
    showStartFailure(target, e);
  }
}

start();
