// Which edges of the topology are failing now. The API gives each edge's requests and errors as
// counts since the engine started, so "now" is the rise of those counts between polls: an edge
// is failing while it has had an error in the last few seconds (the window of its rate).

import type { TopologyEdge } from './traffic';

/** The engine's edge rate covers its last 5 closed seconds: errors are judged over as long. */
export const FAILING_WINDOW_MS = 5_000;

type Counts = Pick<TopologyEdge, 'requests' | 'errors'>;

export interface EdgeHistory {
  /** The edge's counts at the last poll. */
  total: Counts;
  /** What each poll within the window added (only polls that saw a request). */
  rises: (Counts & { at: number })[];
}

export type EdgeHistories = ReadonlyMap<string, EdgeHistory>;

export const edgeKey = (e: { caller: string; callee: string }) => `${e.caller}>${e.callee}`;

/**
 * The history after a poll at `now` (ms). An edge seen for the first time, or whose counts went
 * down (the engine was restarted), starts from its counts: what came before is not "now".
 */
export function trackEdges(
  previous: EdgeHistories,
  edges: readonly Pick<TopologyEdge, 'caller' | 'callee' | 'requests' | 'errors'>[],
  now: number,
  windowMs = FAILING_WINDOW_MS,
): Map<string, EdgeHistory> {
  const next = new Map<string, EdgeHistory>();
  for (const e of edges) {
    const key = edgeKey(e);
    const before = previous.get(key);
    const continues = !!before && e.requests >= before.total.requests && e.errors >= before.total.errors;
    const rises = continues ? before.rises.filter((r) => now - r.at < windowMs) : [];
    if (continues && e.requests > before.total.requests) {
      rises.push({ at: now, requests: e.requests - before.total.requests, errors: e.errors - before.total.errors });
    }
    next.set(key, { total: { requests: e.requests, errors: e.errors }, rises });
  }
  return next;
}

/** The edge's requests and errors within the window up to `now`; any error means failing. */
export function recentCounts(history: EdgeHistories, key: string, now: number, windowMs = FAILING_WINDOW_MS): Counts {
  const sum = { requests: 0, errors: 0 };
  for (const r of history.get(key)?.rises ?? []) {
    if (now - r.at >= windowMs) continue;
    sum.requests += r.requests;
    sum.errors += r.errors;
  }
  return sum;
}

/** A failing edge's label: the share of its recent calls that failed, `34% errors` (`<1% errors` for a trace). */
export function errorShare({ requests, errors }: Counts): string {
  if (errors <= 0 || requests <= 0) return '';
  const pct = Math.round((100 * errors) / requests);
  return pct < 1 ? '<1% errors' : `${Math.min(pct, 100)}% errors`;
}
