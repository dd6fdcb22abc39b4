// Ctrl + / Ctrl − / Ctrl 0 in the desktop app: the webview's own page zoom (a browser's zoom:
// text, charts and layout grow together and the narrow-window layouts take over), kept in
// localStorage so the next run of the app opens at it. In a browser the browser's zoom does
// the same and remembers it per site, so the page leaves those keys to it.

import { getCurrentWebview } from '@tauri-apps/api/webview';
import { isTauri } from './transport';
import { nextZoom, parseZoom, zoomAction } from './zoom';

export const ZOOM_STORAGE_KEY = 'microdeck.zoom';

function stored(): number {
  try {
    return parseZoom(localStorage.getItem(ZOOM_STORAGE_KEY));
  } catch {
    return 1;
  }
}

/** Applies the kept zoom and listens for the keys (the desktop app only). */
export function installZoom(): void {
  if (!isTauri()) return;
  let zoom = stored();
  const apply = (z: number) => {
    zoom = z;
    // Where the zoom can be read back (tests; a support question).
    document.documentElement.dataset.zoom = String(z);
    getCurrentWebview()
      .setZoom(z)
      .catch((e) => console.warn('cannot zoom the page', e));
  };
  apply(zoom);
  // Capture: the keys work whatever has focus (the log filter too).
  addEventListener(
    'keydown',
    (e) => {
      const action = zoomAction(e);
      if (!action) return;
      e.preventDefault();
      apply(nextZoom(zoom, action));
      try {
        localStorage.setItem(ZOOM_STORAGE_KEY, String(zoom));
      } catch {
        // Storage refused: the zoom still holds for this run.
      }
    },
    { capture: true },
  );
}
