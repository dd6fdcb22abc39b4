// Entry point: picks the transport (Tauri IPC or HTTP), starts the live store, mounts the app.

import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { cluster } from './lib/store.svelte';
import { detectTransport } from './lib/transport';
import type { Transport } from './lib/transport';

async function pickTransport(): Promise<Transport> {
  // `?demo` is a development aid only: Vite removes this branch from builds.
  if (import.meta.env.DEV && new URLSearchParams(location.search).has('demo')) {
    const { demoTransport } = await import('./lib/demo');
    return demoTransport();
  }
  return detectTransport();
}

pickTransport().then((transport) => {
  cluster.start(transport);
  const target = document.getElementById('app');
  if (target) mount(App, { target });
});
