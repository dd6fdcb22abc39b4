// TypeScript mirrors of core/src/snapshot.rs and core/src/cluster.rs (LogQuery, Update).
// Same field names, kebab-case enum strings; `Option<T>` is `T | null`. Change both together.

import type { FaultView } from './fault';

/** Milliseconds since the Unix epoch. */
export type EpochMs = number;

export interface ClusterSnapshot {
  name: string;
  taken_at: EpochMs;
  services: ServiceView[];
  engine: EngineStats;
  /** Where `<service>.log` files are written. */
  logs_dir: string;
  run_dir: string;
  /** The lesson running, or the last one run; absent before any. */
  lesson?: LessonProgress;
  /** The autoscalers of the services with an `autoscale` block; absent when none has one. */
  autoscalers?: AutoscalerView[];
  /** The faults set now at services' addresses; absent when none is. */
  faults?: FaultView[];
}

/** `AutoscalerView` in autoscale/mod.rs. */
export interface AutoscalerView {
  service: string;
  on: boolean;
  min: number;
  max: number;
  target: AutoscaleTarget;
  period_ms: number;
  window_ms: number;
  /** The latest period's decision since it was last switched on. */
  last: AutoscaleDecision | null;
  /** The window's recommendations, oldest first. */
  window: number[];
  /** Why it is off when a user's scale switched it off, and how to switch it back on. */
  note: string | null;
}

/** `AutoscaleTarget` in manifest/model.rs. */
export interface AutoscaleTarget {
  metric: 'p95-ms' | 'rps-per-replica' | 'in-flight-per-replica' | 'cpu-percent-per-replica';
  value: number;
}

/** `DecisionView` in autoscale/mod.rs (the rule's `Decision` flattened in). */
export interface AutoscaleDecision {
  at: EpochMs;
  measured: number | null;
  ready: number;
  from: number;
  to: number;
  recommended: number;
  why: 'ratio' | 'tolerance' | 'missing' | 'starting' | 'window' | 'up-limit' | 'bounds';
  message: string;
}

/** `LessonProgress` in lessons/progress.rs. */
export interface LessonProgress {
  name: string;
  title: string;
  claim: string;
  state: 'running' | 'restoring' | 'passed' | 'failed' | 'inconclusive' | 'stopped' | 'broken';
  /** The step under way, while running. */
  current: number | null;
  /** Each step waits for the user to run it. */
  step_by_step: boolean;
  /** Waiting for the user to run step `current`. */
  awaiting: boolean;
  steps: LessonStep[];
  restore_problems: string[];
  started_at: EpochMs;
  finished_at: EpochMs | null;
}

export interface LessonStep {
  name: string;
  /** Markdown. */
  text: string;
  state: 'pending' | 'acting' | 'waiting' | 'measuring' | 'done' | 'skipped';
  started_at: EpochMs | null;
  /** Each action carried out, when, in words. */
  actions_done: { at: EpochMs; what: string }[];
  /** When its checks' windows began. */
  measuring_from: EpochMs | null;
  checks: CheckResult[];
  error: string | null;
}

/** `CheckResult` in lessons/evaluate.rs. */
export interface CheckResult {
  key: string;
  measure: string;
  subject: string;
  window_s: number;
  value: number | null;
  bound: number | null;
  comparison: 'below' | 'at_most' | 'above' | 'at_least';
  outcome: 'passed' | 'failed' | 'inconclusive';
  sentence: string;
}

export interface EngineStats {
  pid: number;
  cpu_percent: number;
  rss_bytes: number;
}

export const SERVICE_STATES = [
  'starting',
  'ready',
  'degraded',
  'unhealthy',
  'crash-looping',
  'stopped',
  'failed',
] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

export interface ServiceView {
  name: string;
  state: ServiceState;
  desired: number;
  ready: number;
  /** The stable address, e.g. `127.0.0.1:7400`. */
  address: string;
  port: number;
  protocol: string;
  restarts: number;
  next_restart_at: EpochMs | null;
  /** Why the service is `failed`, if it is. */
  problem: string | null;
  optional: boolean;
  /** Since the service was last started; null when stopped. */
  started_at: EpochMs | null;
  cpu_percent: number;
  rss_bytes: number;
  replicas: ReplicaView[];
  /** The revision the service runs, or rolls out. */
  revision: number;
  /** The last rollout, while the service runs. */
  rollout?: RolloutView | null;
  /** The deploys' environment changes on top of the manifest (a restart of Microdeck returns to the file). */
  deployed: EnvChange;
}

/** `EnvChange` in supervisor/revision.rs: variables set and removed by deploys. */
export interface EnvChange {
  set: Record<string, string>;
  unset: string[];
}

export type RolloutState = 'progressing' | 'complete' | 'rolling-back' | 'rolled-back' | 'paused';

/** `RolloutView` in snapshot.rs. */
export interface RolloutView {
  from: number;
  to: number;
  state: RolloutState;
  /** Ready replicas on revision `to`. */
  updated: number;
  desired: number;
  /** "rollout of revision 4 failed: …", once it stopped on a bad replica. */
  reason: string | null;
  started_at: EpochMs;
  finished_at: EpochMs | null;
  deadline_ms: number;
}

/** `RevisionView` in snapshot.rs: one kept revision, as the history lists it. */
export interface RevisionView {
  revision: number;
  at: EpochMs;
  cause: string;
  changes: string[];
  command: string;
  env: Record<string, string>;
  deployed: EnvChange;
  current: boolean;
  failed: string | null;
}

/** `RevisionSeries` in metrics/revisions.rs: one revision's 1-second columns. */
export interface RevisionSeries {
  revision: number;
  t: number[];
  rps: number[];
  error_pct: number[];
  p95_ms: (number | null)[];
}

/** `DeployOutcome` in snapshot.rs: what a deploy or an undo did. */
export interface DeployOutcome {
  service: string;
  revision: number;
  changes: string[];
  rolling: boolean;
}

export const REPLICA_STATES = ['starting', 'ready', 'unhealthy', 'stopping', 'stopped', 'exited'] as const;
export type ReplicaState = (typeof REPLICA_STATES)[number];

export interface ReplicaView {
  index: number;
  pid: number | null;
  port: number;
  state: ReplicaState;
  restarts: number;
  started_at: EpochMs | null;
  last_exit: ExitInfo | null;
  /** The last failed probe's message: why the replica is unhealthy. */
  last_probe_error: string | null;
  cpu_percent: number;
  rss_bytes: number;
  /** The revision this process runs. */
  revision: number;
}

export interface ExitInfo {
  code: number | null;
  signal: number | null;
  at: EpochMs;
}

export type Stream = 'stdout' | 'stderr';

/** Ordered from least to most severe, as in the Rust enum. */
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

export interface LogLine {
  /** Per-service sequence number. */
  seq: number;
  at: EpochMs;
  service: string;
  replica: number;
  stream: Stream;
  level: Level | null;
  text: string;
}

export type EventKind =
  | 'started'
  | 'ready'
  | 'unhealthy'
  | 'exited'
  | 'restart-scheduled'
  | 'scaled'
  | 'stopped'
  | 'killed'
  | 'restarted'
  | 'failed'
  | 'reloaded'
  | 'lesson'
  | 'autoscale'
  | 'deployed'
  | 'rollout'
  | 'fault';

/** `Event` in snapshot.rs (renamed here so it does not shadow the DOM's `Event`). */
export interface ClusterEvent {
  seq: number;
  at: EpochMs;
  service: string;
  replica: number | null;
  kind: EventKind;
  /** A human sentence, e.g. "exited with signal 9 (SIGKILL)". */
  message: string;
}

/** A filter over the engine's log rings; absent fields do not filter. */
export interface LogQuery {
  service?: string | null;
  replica?: number | null;
  /** Lines at this level or above (lines with no level are kept). */
  level?: Level | null;
  /** Case-insensitive substring. */
  text?: string | null;
  limit?: number | null;
}

/** What a subscriber receives (serde: internally tagged by `type`): a snapshot first, then these. */
export type Update =
  | ({ type: 'snapshot' } & ClusterSnapshot)
  | { type: 'logs'; lines: LogLine[]; skipped: number }
  | ({ type: 'event' } & ClusterEvent);

/** A command that could not be carried out, as every shell sends it. */
/** `ReloadReport` in cluster/reload.rs: what a manifest reload did, by service name. */
export interface ReloadReport {
  changed: string[];
  added: string[];
  removed: string[];
  unchanged: string[];
  /** Services whose deployed changes stay on top of the file. */
  'deployed-on-top': string[];
}

export interface CommandError {
  code: string;
  message: string;
}
