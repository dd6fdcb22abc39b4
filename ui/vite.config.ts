// Vite builds the dashboard into ui/dist: the desktop shell embeds it and the web mode serves it.
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
  // The same files are served from tauri://localhost/ and from http://127.0.0.1:PORT/.
  base: '/',
  clearScreen: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No module preload polyfill: it injects an inline script a strict CSP would refuse.
    modulePreload: { polyfill: false },
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
