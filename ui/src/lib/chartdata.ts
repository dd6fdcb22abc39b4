// Pure helpers for the traffic views: chart columns from a series, event markers, the
// topology layout and the spread bars — kept out of components so vitest covers them.

import type { ClusterEvent } from './types';
import type { ReplicaShare, Series, Topology } from './traffic';

/** The charts of a service, each a column of its series (as uPlot's aligned data). */
export const CHARTS = [
  { key: 'rps', label: 'req/s' },
  { key: 'p95_ms', label: 'p95 ms' },
  { key: 'error_pct', label: 'errors %' },
  { key: 'cpu_percent', label: 'CPU %' },
  { key: 'rss_mib', label: 'memory MiB' },
] as const;

export type ChartKey = (typeof CHARTS)[number]['key'];

/** The windows a chart offers (seconds); it opens on the first. */
export const CHART_WINDOWS = [
  { seconds: 60, label: '1 min', span: 'the last minute' },
  { seconds: 300, label: '5 min', span: 'the last 5 minutes' },
  { seconds: 900, label: '15 min', span: 'the last 15 minutes' },
] as const;

/** The narrowest x range: one or two points still get an axis to sit on. */
const MIN_SPAN_S = 5;

/**
 * A chart's x range in unix seconds: `[now − window, now]`, except that a series younger than
 * the window spans from its first point to now, so ten seconds of data fill the width instead
 * of hugging its right edge. `now` never falls behind the newest point (a clock a little off).
 */
export function xRange(t: readonly number[], windowS: number, nowS: number): [number, number] {
  const max = t.length ? Math.max(nowS, t[t.length - 1]) : nowS;
  const from = max - windowS;
  if (t.length === 0 || t[0] <= from) return [from, max];
  return [Math.min(t[0], max - MIN_SPAN_S), max];
}

/** `[t, values]` for one chart; memory in MiB; missing seconds stay null (a gap). */
export function chartColumns(s: Series, key: ChartKey): [number[], (number | null)[]] {
  const values: (number | null)[] =
    key === 'rss_mib' ? s.rss_bytes.map((b) => (b === null ? null : b / (1024 * 1024))) : (s[key] as (number | null)[]);
  return [s.t, values];
}

/** The newest non-null value of a chart (what its caption shows), `null` without any. */
export function latestValue(s: Series, key: ChartKey): number | null {
  const [, values] = chartColumns(s, key);
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** A chart's caption value: `48.0`, `12.3`, `0.50`; `–` without data. */
export function formatLatest(v: number | null): string {
  if (v === null) return '–';
  return Math.abs(v) < 10 && v !== 0 ? v.toFixed(2) : v.toFixed(1);
}

export interface Marker {
  /** Unix seconds. */
  t: number;
  /** `lesson`: an action a lesson took (it may name no service, e.g. starting a load). */
  kind: 'scaled' | 'restarted' | 'killed' | 'lesson' | 'autoscale';
  text: string;
}

/** Where the service was scaled, restarted or had a replica killed, within `[from, to]` (unix seconds). */
export function markersFrom(events: ClusterEvent[], service: string, from: number, to: number): Marker[] {
  const out: Marker[] = [];
  for (const e of events) {
    if (e.service !== service) continue;
    const t = e.at / 1000;
    if (t < from || t > to) continue;
    const kinds: Partial<Record<ClusterEvent['kind'], Marker['kind']>> = { scaled: 'scaled', killed: 'killed', restarted: 'restarted', autoscale: 'autoscale' };
    const kind = kinds[e.kind] ?? null;
    if (kind) out.push({ t, kind, text: e.message });
  }
  return out;
}

/** The edges worth drawing: between known nodes (or from `external`), with traffic. */
export function visibleEdges(t: Topology, known: Set<string>): Topology['edges'] {
  return t.edges.filter((e) => e.requests > 0 && known.has(e.callee) && (known.has(e.caller) || e.caller === 'external'));
}

/** Bars for every replica (missing ones at 0), sorted by replica, shares in percent. */
export function spreadBars(shares: ReplicaShare[], replicas: number[]): { replica: number; pct: number; requests: number }[] {
  const all = new Set([...replicas, ...shares.map((s) => s.replica)]);
  return [...all]
    .sort((a, b) => a - b)
    .map((replica) => {
      const s = shares.find((x) => x.replica === replica);
      return { replica, pct: s ? Math.round(s.share * 1000) / 10 : 0, requests: s?.requests ?? 0 };
    });
}
