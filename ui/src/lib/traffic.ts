// The traffic side of docs/api.md as the UI sees it: series for the charts, the observed
// topology, the spread over replicas, the load run's report and the sample kit's knobs.

/** One service's 1-second series as columns (uPlot's shape); `t` is unix seconds. */
export interface Series {
  service: string;
  t: number[];
  rps: number[];
  error_pct: number[];
  p50_ms: (number | null)[];
  p95_ms: (number | null)[];
  p99_ms: (number | null)[];
  in_flight: number[];
  cpu_percent: (number | null)[];
  rss_bytes: (number | null)[];
  /** Requests answered by an injected abort each second (not in `error_pct`). */
  injected_aborts?: number[];
  /** The mean injected delay of each second's delayed requests (not in the percentiles). */
  injected_delay_ms?: (number | null)[];
}

export interface Percentiles {
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export interface TopologyEdge {
  caller: string;
  callee: string;
  rps: number;
  requests: number;
  errors: number;
  latency: Percentiles;
}

/** A service, or a caller outside the cluster (`external`), as the traffic saw it. */
export interface TopologyNode {
  name: string;
  external: boolean;
  rps: number;
  requests: number;
}

export interface Topology {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface ReplicaShare {
  replica: number;
  requests: number;
  /** 0 to 1. */
  share: number;
}

export interface LoadReport {
  scenario: string;
  target: string;
  state: 'setup' | 'running' | 'draining' | 'finished' | 'stopped' | 'failed';
  message?: string;
  rate: number;
  elapsed_s: number;
  scheduled: number;
  sent: number;
  ok: number;
  errors: { status_4xx: number; status_5xx: number; connect: number; timeout: number; dropped: number; other: number };
  in_flight: number;
  achieved_rps_recent: number;
  achieved_rps_total: number;
  latency: Percentiles;
  latency_last_second: Percentiles;
}

/** A manifest load scenario as `GET /api/load/scenarios` shows it. */
export interface ScenarioOutline {
  name: string;
  target: string;
  /** `"POST /api/auth/login"` when a setup request runs first. */
  setup: string | null;
  requests: { method: string; path: string; weight: number }[];
}

/** The sample kit's demo knobs; any subset may be sent. */
export interface Knobs {
  work_ms?: number;
  max_inflight?: number;
  error_rate?: number;
}

export interface TrafficApi {
  series(name: string, windowS: number): Promise<Series>;
  topology(): Promise<Topology>;
  replicaSpread(name: string, windowS: number): Promise<ReplicaShare[]>;
  /** The manifest's scenarios, in manifest order. */
  loadScenarios(): Promise<ScenarioOutline[]>;
  startLoad(scenario: string, rate: number, durationS?: number): Promise<LoadReport>;
  setLoadRate(rate: number): Promise<LoadReport>;
  stopLoad(): Promise<LoadReport>;
  /** `null` before any run. */
  loadReport(): Promise<LoadReport | null>;
  /** Answers how many replicas took the knobs. */
  setKnobs(name: string, knobs: Knobs): Promise<number>;
  crash(name: string): Promise<void>;
}

/** An empty series for a service with no traffic yet. */
export function emptySeries(service: string): Series {
  return { service, t: [], rps: [], error_pct: [], p50_ms: [], p95_ms: [], p99_ms: [], in_flight: [], cpu_percent: [], rss_bytes: [] };
}

/** The total errors of a load report. */
export function loadErrors(r: LoadReport): number {
  const e = r.errors;
  return e.status_4xx + e.status_5xx + e.connect + e.timeout + e.dropped + e.other;
}

/** One line for a scenario: `gateway: GET /a ×5, GET /b ×2 (after POST /login)`. */
export function describeScenario(s: ScenarioOutline): string {
  const weights = s.requests.length > 1;
  const requests = s.requests.map((r) => `${r.method} ${r.path}${weights ? ` ×${r.weight}` : ''}`).join(', ');
  return `${s.target}: ${requests}${s.setup ? ` (after ${s.setup})` : ''}`;
}
