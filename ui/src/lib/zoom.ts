// The page zoom's steps for a projector: Ctrl + and Ctrl − move one step, Ctrl 0 goes back to
// 100 %. Steps like a browser's, so a room can read the dashboard from the back.

/** From 80 % to 200 %. */
export const ZOOM_STEPS = [0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2] as const;
export const ZOOM_MIN = ZOOM_STEPS[0];
export const ZOOM_MAX = ZOOM_STEPS[ZOOM_STEPS.length - 1];

export type ZoomAction = 'in' | 'out' | 'reset';

/** The parts of a `KeyboardEvent` that name a zoom key. */
export interface ZoomKey {
  key: string;
  code?: string;
  ctrlKey: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

/** Ctrl (⌘ on a Mac) with + (or =, the same key unshifted), − or 0, on the main keys or the keypad. */
export function zoomAction(e: ZoomKey): ZoomAction | null {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return null;
  if (e.key === '+' || e.key === '=' || e.code === 'NumpadAdd') return 'in';
  if (e.key === '-' || e.key === '_' || e.code === 'NumpadSubtract') return 'out';
  if (e.key === '0' || e.code === 'Numpad0') return 'reset';
  return null;
}

/** Within the steps' range; anything unreadable is 100 %. */
export function clampZoom(z: number): number {
  if (!Number.isFinite(z) || z <= 0) return 1;
  return Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z));
}

/** The zoom after an action: the next step up or down from wherever it is (even between steps), clamped at the ends. */
export function nextZoom(current: number, action: ZoomAction): number {
  if (action === 'reset') return 1;
  const z = clampZoom(current);
  const EPS = 1e-6;
  if (action === 'in') return ZOOM_STEPS.find((s) => s > z + EPS) ?? ZOOM_MAX;
  return [...ZOOM_STEPS].reverse().find((s) => s < z - EPS) ?? ZOOM_MIN;
}

/** A zoom kept as text (localStorage); a missing or broken value is 100 %. */
export function parseZoom(stored: string | null): number {
  return stored === null || stored.trim() === '' ? 1 : clampZoom(Number(stored));
}
