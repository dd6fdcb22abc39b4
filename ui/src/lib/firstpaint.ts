// The moment the first service list reached the screen, as a `performance` mark: a startup
// figure anyone can read in the dev tools, and the one the benchmarks (P7) read.

export const FIRST_LIST_MARK = 'microdeck:first-list';

let marked = false;

/** Marks once, two frames after the rows are in the DOM: by then the first has been painted. */
export function markFirstList(): void {
  if (marked) return;
  marked = true;
  requestAnimationFrame(() => requestAnimationFrame(() => performance.mark(FIRST_LIST_MARK)));
}
