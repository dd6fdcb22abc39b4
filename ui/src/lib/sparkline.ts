// A sparkline as an SVG path: a pure function of the values and the box, so vitest covers it
// and a component needs no chart library to draw one.

export interface Sparkline {
  /** The `d` of an SVG <path>; empty when there is nothing to draw. */
  path: string;
  /** How many values were drawn (the non-null ones). */
  points: number;
  /** The newest non-null value, `null` without any. */
  last: number | null;
  /** The value at the top of the box. */
  top: number;
}

/** The length of the dash that stands for a point alone between gaps. */
const DASH = 2;

export interface SparkBox {
  width: number;
  height: number;
  /** Kept free at the top and bottom so a stroke is not cut in half. */
  inset?: number;
  /** The top of the scale is at least this: a few requests must not look like a peak. */
  minTop?: number;
}

/**
 * Values oldest first, one per slot, spread over the whole width; y from 0 (bottom) to the
 * largest value. A null is a gap (the line stops and starts again); all zeros is a flat line
 * along the bottom.
 */
export function sparkline(values: readonly (number | null | undefined)[], box: SparkBox): Sparkline {
  const { width, height, inset = 1, minTop = 0 } = box;
  let top = minTop;
  let last: number | null = null;
  let points = 0;
  for (const v of values) {
    if (!isValue(v)) continue;
    points++;
    last = v;
    if (v > top) top = v;
  }
  if (points === 0) return { path: '', points: 0, last: null, top };
  const span = height - 2 * inset;
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const x = (i: number) => (values.length > 1 ? i * step : width);
  const y = (v: number) => inset + span - (top > 0 ? (Math.max(v, 0) / top) * span : 0);
  const parts: string[] = [];
  let open = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!isValue(v)) {
      open = false;
      continue;
    }
    const next = values[i + 1];
    // A point alone between gaps gets a short dash, or it would not show at all.
    const alone = !open && !isValue(next);
    const dash = alone ? ` h${x(i) + DASH > width ? -DASH : DASH}` : '';
    parts.push(`${open ? 'L' : 'M'}${round(x(i))} ${round(y(v))}${dash}`);
    open = true;
  }
  return { path: parts.join(' '), points, last, top };
}

function isValue(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v);
}

/** One decimal is below a pixel's worth: it keeps the path short. */
function round(n: number): number {
  return Math.round(n * 10) / 10;
}
