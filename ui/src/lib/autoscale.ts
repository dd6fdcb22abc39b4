// An autoscaler as the service page shows it: its target in words, and the line its target
// draws on the chart of the metric it follows.

import type { ChartKey } from './chartdata';
import type { AutoscaleTarget, AutoscalerView } from './types';

/** "p95 300 ms", "10 rps per replica", … */
export function describeTarget(t: AutoscaleTarget): string {
  const v = Number.isInteger(t.value) ? String(t.value) : t.value.toFixed(1);
  switch (t.metric) {
    case 'p95-ms':
      return `p95 ${v} ms`;
    case 'rps-per-replica':
      return `${v} rps per replica`;
    case 'in-flight-per-replica':
      return `${v} in flight per replica`;
    case 'cpu-percent-per-replica':
      return `${v} % CPU per replica`;
  }
}

/**
 * The target as a value on one of the service's charts: p95 on the latency chart; a
 * per-replica rate or CPU on the service's chart, times its ready replicas. None for
 * requests in flight, which has no chart.
 */
export function targetLine(a: AutoscalerView | undefined, ready: number): { key: ChartKey; value: number } | null {
  if (!a) return null;
  switch (a.target.metric) {
    case 'p95-ms':
      return { key: 'p95_ms', value: a.target.value };
    case 'rps-per-replica':
      return ready > 0 ? { key: 'rps', value: a.target.value * ready } : null;
    case 'cpu-percent-per-replica':
      return ready > 0 ? { key: 'cpu_percent', value: a.target.value * ready } : null;
    case 'in-flight-per-replica':
      return null;
  }
}
